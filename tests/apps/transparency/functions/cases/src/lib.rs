//! `cases`: `{"case": c, "input": s}` → invokes case c's member with the bytes of s and answers
//! `{"ok": true, "reply": <reply as text>}` or `{"ok": false, "error": <the SDK error as text>}`,
//! which shows the error's kind and message. `sleepy-big` sends sleepy as many bytes as its input
//! says; `by-name` invokes the function named by the request's `name`.

use quilt_sdk::Error;

fn cases(req: &[u8]) -> Result<Vec<u8>, Error> {
    let req: serde_json::Value =
        serde_json::from_slice(req).map_err(|e| Error::BadPayload(e.to_string()))?;
    let input = req["input"].as_str().unwrap_or("").as_bytes();
    // Constant names, so that the merging compiler rewrites every one of these calls.
    let result = match req["case"].as_str().unwrap_or("") {
        "ctor-c" => quilt_sdk::invoke_bytes("ctor-c", input),
        "ctor-cpp" => quilt_sdk::invoke_bytes("ctor-cpp", input),
        "deep" => quilt_sdk::invoke_bytes("deep-a", input),
        "status" => quilt_sdk::invoke_bytes("status-c", input),
        "status-caller" => quilt_sdk::invoke_bytes("status-caller", input),
        "counter" => quilt_sdk::invoke_bytes("counter", input),
        "recurse" => quilt_sdk::invoke_bytes("recurse", input),
        "counter-twin" => quilt_sdk::invoke_bytes("counter-twin", input),
        "sleepy" => quilt_sdk::invoke_bytes("sleepy", input),
        "sleepy-async" => quilt_sdk::invoke_async_bytes("sleepy", input).join_bytes(),
        // `input` is a length: sleepy gets that many bytes.
        "sleepy-big" => {
            let len = std::str::from_utf8(input)
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            quilt_sdk::invoke_bytes("sleepy", &vec![b'x'; len])
        }
        // `name` is the callee, known at run time only.
        "by-name" => quilt_sdk::invoke_bytes(req["name"].as_str().unwrap_or(""), input),
        other => return Err(Error::msg(format!("no case '{other}'"))),
    };
    let answer = match result {
        Ok(reply) => serde_json::json!({"ok": true, "reply": String::from_utf8_lossy(&reply)}),
        Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
    };
    Ok(answer.to_string().into_bytes())
}

quilt_sdk::handler_bytes!(cases);
