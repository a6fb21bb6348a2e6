//! `mnist`: see [`mnist_app::cli`].
fn main() {
    std::process::exit(mnist_app::cli::main());
}
