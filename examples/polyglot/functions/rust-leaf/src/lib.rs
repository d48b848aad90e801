//! `rust-leaf`: answers "rust-leaf[<input>]"; fails on "fail", panics on "panic".

use quilt_sdk::Error;

fn handle(input: &[u8]) -> Result<Vec<u8>, Error> {
    match input {
        b"fail" => Err(Error::msg("rust-leaf refuses 'fail'")),
        b"panic" => panic!("rust-leaf was asked to panic"),
        _ => {
            let mut out = b"rust-leaf[".to_vec();
            out.extend_from_slice(input);
            out.push(b']');
            Ok(out)
        }
    }
}

quilt_sdk::handler_bytes!(handle);
