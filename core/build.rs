//! The migrations in `../migrations` are embedded by `sqlx::migrate!`; a new
//! file there must rebuild this crate, which the macro cannot request itself.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
