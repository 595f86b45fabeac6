//! Trains the dictionary that packs the sled store's values (`src/store/sled/packed.rs`)
//! from stores Ringback wrote, and reports how well it packs values it was not trained on.
//!
//! ```sh
//! cargo run --release --example value_dictionary -- OUT.zdict SIZE STORE_DATA_DIR...
//! ```
//!
//! Every other value of each record tree (at most 4 000 per tree and store) trains; the
//! others are packed to report the ratio. A dictionary that shipped is never replaced (it is
//! part of the format); a new one would become the next codec in `packed.rs`.

use std::collections::BTreeMap;

const TREES: &[&str] = &[
    "callbacks",
    "timeline",
    "calls",
    "outbox",
    "rules_audit",
    "unknown_chats",
    "digests",
];
const PER_TREE: usize = 4000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: value_dictionary OUT.zdict SIZE STORE_DATA_DIR...";
    let out = args.next().ok_or(usage)?;
    let size: usize = args.next().ok_or(usage)?.parse()?;
    let stores: Vec<String> = args.collect();
    if stores.is_empty() {
        return Err(usage.into());
    }
    let mut train = Vec::new();
    let mut held: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
    for store in &stores {
        let db = sled::Config::new()
            .path(std::path::Path::new(store).join("sled"))
            .open()?;
        for tree in TREES {
            let t = db.open_tree(tree)?;
            let step = (t.len() / (2 * PER_TREE)).max(1);
            for (i, kv) in t.iter().enumerate().filter(|(i, _)| i % step == 0) {
                let (_, v) = kv?;
                // Only JSON: values packed by an earlier dictionary say nothing about this one.
                if !matches!(v.first(), Some(b'{' | b'[')) {
                    continue;
                }
                if (i / step).is_multiple_of(2) {
                    train.push(v.to_vec());
                } else {
                    held.entry(tree).or_default().push(v.to_vec());
                }
            }
        }
    }
    let dict = zstd::dict::from_samples(&train, size)?;
    std::fs::write(&out, &dict)?;
    println!(
        "trained a {} byte dictionary on {} values from {} stores; packing the held-out values:",
        dict.len(),
        train.len(),
        stores.len()
    );
    let mut with = zstd::bulk::Compressor::with_dictionary(3, &dict)?;
    let mut without = zstd::bulk::Compressor::new(3)?;
    for (tree, values) in &held {
        let raw: usize = values.iter().map(Vec::len).sum();
        let packed: usize = values
            .iter()
            .map(|v| with.compress(v).map(|c| c.len() + 5))
            .sum::<Result<_, _>>()?;
        let plain: usize = values
            .iter()
            .map(|v| without.compress(v).map(|c| c.len()))
            .sum::<Result<_, _>>()?;
        println!(
            "  {tree:14} {:6} values, mean {:5} bytes of JSON -> {:4} packed ({:.3}; zstd without the dictionary {:.3})",
            values.len(),
            raw / values.len(),
            packed / values.len(),
            packed as f64 / raw as f64,
            plain as f64 / raw as f64
        );
    }
    Ok(())
}
