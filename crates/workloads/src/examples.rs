//! Generators for the example apps (examples/hello, examples/fanout).

use crate::Generator;
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

/// Generators of `hello/hello` and `fanout/fanout`.
pub fn generator(app: &str, workflow: &str) -> Option<Generator> {
    match (app, workflow) {
        ("hello", "hello") => Some(Box::new(|rng| {
            let name = Alphanumeric.sample_string(rng, 8).to_lowercase();
            serde_json::json!({ "name": name }).to_string().into_bytes()
        })),
        ("fanout", "fanout") => Some(Box::new(|rng| {
            let k: u32 = rng.random_range(1..=8);
            serde_json::json!({ "k": k, "ms": 1 })
                .to_string()
                .into_bytes()
        })),
        _ => None,
    }
}

/// Every `app/workflow` here.
pub fn known() -> Vec<String> {
    vec!["hello/hello".into(), "fanout/fanout".into()]
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    #[test]
    fn bodies_are_valid_json_in_range() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut hello = super::generator("hello", "hello").unwrap();
        let mut fanout = super::generator("fanout", "fanout").unwrap();
        for _ in 0..100 {
            let h: serde_json::Value = serde_json::from_slice(&hello(&mut rng)).unwrap();
            assert_eq!(h["name"].as_str().unwrap().len(), 8);
            let f: serde_json::Value = serde_json::from_slice(&fanout(&mut rng)).unwrap();
            assert!((1..=8).contains(&f["k"].as_u64().unwrap()));
        }
        assert!(super::generator("hello", "nope").is_none());
    }
}
