//! The command line both daemon benchmarks take: `[KIND...] [--n N] [--repeat R]`.

/// What to run: which kinds, how many workunits, how many times each.
pub struct BenchArgs {
    pub kinds: Vec<String>,
    pub n: u64,
    pub repeat: usize,
}

impl BenchArgs {
    /// Parses the process's arguments; no kind named means every kind in `all_kinds`.
    /// Flags `cargo bench` adds itself (`--bench`) are ignored.
    pub fn from_env(all_kinds: &[&str]) -> BenchArgs {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut parsed = BenchArgs {
            kinds: Vec::new(),
            n: 20_000,
            repeat: 1,
        };
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "--n" => {
                    parsed.n = value(&args, i).parse().expect("--n takes a number");
                    i += 1;
                }
                "--repeat" => {
                    parsed.repeat = value(&args, i).parse().expect("--repeat takes a number");
                    i += 1;
                }
                a if a.starts_with("--") => {}
                a => parsed.kinds.push(a.to_string()),
            }
            i += 1;
        }
        if parsed.kinds.is_empty() {
            parsed.kinds = all_kinds.iter().map(|k| k.to_string()).collect();
        }
        parsed.repeat = parsed.repeat.max(1);
        parsed
    }
}

fn value(args: &[String], i: usize) -> &str {
    args.get(i + 1)
        .unwrap_or_else(|| panic!("{} needs a value", args[i]))
}
