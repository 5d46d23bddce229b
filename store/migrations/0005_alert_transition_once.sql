-- Each kind of transition happens at most once per alert (an alert fires once, resolves once, is
-- acknowledged once; firing again is a new alert). The constraint makes a retried write whose
-- first attempt did commit (the connection broke before the answer) a no-op instead of a
-- duplicate row.
CREATE UNIQUE INDEX alert_transition_once ON alert_transition (alert_id, kind);
