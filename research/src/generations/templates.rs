//! The templates of a chain's workunits, written into the project when a chain needs them.
//!
//! Generation 1 uses the series' input template (`templates/mnist_in`: job and dataset);
//! later generations add the start state (`templates/mnist_chain_in`). Every generation
//! returns its state besides its metrics (`templates/mnist_chain_out`). Projects made before
//! chains existed lack the two chain templates, so [`ensure`] writes them (from
//! `config/templates/`) the first time a chain is submitted or advanced; an existing file is
//! left as the operator has it.

use std::path::Path;

/// The input template of generations after the first, relative to the project.
pub const CHAIN_IN: &str = "templates/mnist_chain_in";
/// The result template of every generation.
pub const CHAIN_OUT: &str = "templates/mnist_chain_out";

const CHAIN_IN_TEXT: &str = include_str!("../../../config/templates/mnist_chain_in");
const CHAIN_OUT_TEXT: &str = include_str!("../../../config/templates/mnist_chain_out");

/// Writes the chain templates into `project_dir` where they are missing.
pub fn ensure(project_dir: &Path) -> std::io::Result<()> {
    for (rel, text) in [(CHAIN_IN, CHAIN_IN_TEXT), (CHAIN_OUT, CHAIN_OUT_TEXT)] {
        let path = project_dir.join(rel);
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &path)?;
        }
    }
    Ok(())
}
