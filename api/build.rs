//! Rebuilds the API when a file under `ui/` is added, changed or removed: the dashboard's files
//! are compiled in (`rust-embed`), and cargo would not otherwise notice a new file there.

fn main() {
    println!("cargo:rerun-if-changed=ui");
}
