//! `embed_migrations!` reads `migrations/` at compile time but cannot tell cargo to watch it;
//! without this a new migration folder would not be embedded until the crate is rebuilt.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
