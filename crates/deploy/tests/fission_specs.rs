//! The Fission specs `quilt deploy` writes, validated against the Fission CRDs' schema (the subset
//! in fission-crds.schema.json, with unknown fields refused) and checked against quilt.toml's
//! numbers; the output folder's atomic replacement.

use quilt_deploy::fission::FissionOptions;
use quilt_deploy::{write, Plan, Target, Unit};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fission-crds.schema.json"),
    )
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// Errors of `doc` against the schema, plus the CEL rule JSON Schema cannot say
/// (`MaxScale >= MinScale`).
fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    let mut errs: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    let es = &doc["spec"]["InvokeStrategy"]["ExecutionStrategy"];
    if let (Some(min), Some(max)) = (es["MinScale"].as_i64(), es["MaxScale"].as_i64()) {
        if max < min {
            errs.push(format!("MaxScale {max} < MinScale {min}"));
        }
    }
    errs
}

/// A small real binary for the images (its libraries come along).
fn some_binary() -> PathBuf {
    ["/usr/bin/true", "/bin/true"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("true(1)")
}

fn plan() -> Plan {
    let mut hello = Unit::example("hello");
    hello.binary = some_binary();
    hello.memory_mb = 96;
    hello.cpu = 0.25;
    hello.min_scale = 1;
    hello.max_scale = 3;
    hello.concurrency = 16;
    hello.timeout_ms = 2500;
    let mut upper = Unit::example("upper");
    upper.binary = some_binary();
    let mut merged = Unit::example("hello-merged");
    merged.binary = some_binary();
    merged.entry = "hello".into();
    merged.members = vec!["hello".into(), "upper".into(), "decorate".into()];
    Plan {
        app: "hello".into(),
        target: Target::Fission,
        units: vec![hello, upper, merged],
        registry: Some("registry.example.com/quilt".into()),
        tag: None,
        fission: FissionOptions {
            otlp_endpoint: "http://collector.tracing:4318".into(),
            env: vec![("QUILT_REDIS_ADDR".into(), "redis.default:6379".into())],
            ..FissionOptions::default()
        },
    }
}

fn read_docs(out: &Path) -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("specs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for d in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(d).unwrap();
            docs.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
        }
    }
    docs
}

fn env_of(container: &Value, name: &str) -> Option<String> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].as_str().unwrap().to_string())
}

#[test]
fn specs_are_valid_fission_resources_with_the_manifests_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("deploy");
    let report = write(&plan(), &out).unwrap();
    assert_eq!(report.images.len(), 3);
    let validator = schema();
    let docs = read_docs(&out);
    let kinds: Vec<&str> = docs
        .iter()
        .map(|(_, d)| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "Environment").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "Function").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "HTTPTrigger").count(), 3);
    assert_eq!(
        kinds.iter().filter(|k| **k == "DeploymentConfig").count(),
        1
    );
    for (file, doc) in &docs {
        if doc["kind"] == "DeploymentConfig" {
            assert_eq!(doc["apiVersion"], "fission.io/v1");
            assert_eq!(doc["name"], "hello");
            assert_eq!(doc["uid"].as_str().unwrap().len(), 36);
            assert_eq!(file, "fission-deployment-config.yaml");
            continue;
        }
        let errs = errors(&validator, doc);
        assert!(
            errs.is_empty(),
            "{file} is not a valid resource: {errs:#?}\n{doc:#}"
        );
    }

    let function = |name: &str| {
        docs.iter()
            .find(|(_, d)| d["kind"] == "Function" && d["metadata"]["name"] == name)
            .map(|(_, d)| d.clone())
            .unwrap()
    };
    let hello = function("hello");
    let spec = &hello["spec"];
    let es = &spec["InvokeStrategy"]["ExecutionStrategy"];
    assert_eq!(es["ExecutorType"], "container");
    assert_eq!(
        (es["MinScale"].as_u64(), es["MaxScale"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(spec["requestsPerPod"], 16);
    assert_eq!(spec["functionTimeout"], 3, "2500 ms rounds up to 3 s");
    assert_eq!(spec["environment"]["name"], "hello");
    let c = &spec["podspec"]["containers"][0];
    let hello_image = &report
        .images
        .iter()
        .find(|i| i.name == "hello")
        .unwrap()
        .image;
    assert_eq!(c["image"], hello_image.as_str());
    assert!(hello_image.starts_with("registry.example.com/quilt/hello:"));
    for r in ["requests", "limits"] {
        assert_eq!(c["resources"][r]["memory"], "96Mi");
        assert_eq!(c["resources"][r]["cpu"], "250m");
    }
    assert_eq!(c["ports"][0]["containerPort"], 8888);
    assert_eq!(
        env_of(c, "QUILT_GATEWAY").as_deref(),
        Some("router.fission.svc.cluster.local:80")
    );
    assert_eq!(
        env_of(c, "OTEL_EXPORTER_OTLP_ENDPOINT").as_deref(),
        Some("http://collector.tracing:4318")
    );
    assert_eq!(
        env_of(c, "QUILT_REDIS_ADDR").as_deref(),
        Some("redis.default:6379")
    );

    let merged = function("hello-merged");
    let c = &merged["spec"]["podspec"]["containers"][0];
    assert_eq!(env_of(c, "QUILT_ENTRY").as_deref(), Some("hello"));
    assert_eq!(env_of(c, "QUILT_FUNCTION").as_deref(), Some("hello-merged"));
    assert_eq!(
        merged["metadata"]["annotations"]["quilt.dev/members"],
        "hello,upper,decorate"
    );

    let route = docs
        .iter()
        .find(|(_, d)| d["kind"] == "HTTPTrigger" && d["metadata"]["name"] == "upper")
        .map(|(_, d)| d.clone())
        .unwrap();
    assert_eq!(route["spec"]["relativeurl"], "/upper");
    assert_eq!(route["spec"]["methods"], serde_json::json!(["POST"]));
    assert_eq!(route["spec"]["functionref"]["name"], "upper");

    let push = std::fs::read_to_string(out.join("images/push.sh")).unwrap();
    assert!(push.contains("docker://registry.example.com/quilt/hello-merged:"));
}

#[test]
fn the_schema_refuses_what_fission_would_refuse_or_prune() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("deploy");
    write(&plan(), &out).unwrap();
    let validator = schema();
    let docs = read_docs(&out);
    let get = |kind: &str| {
        docs.iter()
            .find(|(_, d)| d["kind"] == kind)
            .map(|(_, d)| d.clone())
            .unwrap()
    };
    let broken: Vec<(&str, Value)> = vec![
        ("trigger without functionref", {
            let mut d = get("HTTPTrigger");
            d["spec"].as_object_mut().unwrap().remove("functionref");
            d
        }),
        ("misspelt field (pruned by the API server)", {
            let mut d = get("Function");
            d["spec"]["requestPerPod"] = 3.into();
            d
        }),
        ("container executor without a pod spec", {
            let mut d = get("Function");
            d["spec"].as_object_mut().unwrap().remove("podspec");
            d
        }),
        ("MaxScale 0", {
            let mut d = get("Function");
            d["spec"]["InvokeStrategy"]["ExecutionStrategy"]["MaxScale"] = 0.into();
            d
        }),
        ("MaxScale below MinScale", {
            let mut d = get("Function");
            d["spec"]["InvokeStrategy"]["ExecutionStrategy"]["MinScale"] = 5.into();
            d
        }),
        ("memory not a quantity", {
            let mut d = get("Function");
            d["spec"]["podspec"]["containers"][0]["resources"]["limits"]["memory"] =
                "64 megs".into();
            d
        }),
        ("environment without runtime image", {
            let mut d = get("Environment");
            d["spec"]["runtime"]
                .as_object_mut()
                .unwrap()
                .remove("image");
            d
        }),
        ("upper-case name", {
            let mut d = get("Environment");
            d["metadata"]["name"] = "Hello".into();
            d
        }),
        ("empty package reference", {
            let mut d = get("Function");
            d["spec"]["package"] = serde_json::json!({"packageref": {"name": "", "namespace": ""}});
            d
        }),
        ("environment reference without namespace", {
            let mut d = get("Function");
            d["spec"]["environment"]
                .as_object_mut()
                .unwrap()
                .remove("namespace");
            d
        }),
        ("a route the router keeps", {
            let mut d = get("HTTPTrigger");
            d["spec"]["relativeurl"] = "/readyz".into();
            d
        }),
        ("a trigger without url or prefix", {
            let mut d = get("HTTPTrigger");
            d["spec"].as_object_mut().unwrap().remove("relativeurl");
            d
        }),
        ("one function per container value Fission lacks", {
            let mut d = get("Environment");
            d["spec"]["allowedFunctionsPerContainer"] = "multiple".into();
            d
        }),
    ];
    for (what, doc) in broken {
        assert!(
            !errors(&validator, &doc).is_empty(),
            "the schema accepted: {what}"
        );
    }
}

#[test]
fn a_function_named_like_a_route_of_the_router_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("deploy");
    let mut p = plan();
    p.units[1].name = "readyz".into();
    let err = write(&p, &out).unwrap_err().to_string();
    assert!(
        err.contains("function 'readyz'") && err.contains("router"),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn output_is_replaced_whole_and_foreign_folders_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("deploy");
    let first = write(&plan(), &out).unwrap();
    std::fs::write(out.join("specs/stale.yaml"), "kind: Stale\n").unwrap();
    let second = write(&plan(), &out).unwrap();
    assert!(
        !out.join("specs/stale.yaml").exists(),
        "the new output replaced the old one whole"
    );
    // Same binaries, same digests: a redeploy of an unchanged app changes nothing.
    let digests = |r: &quilt_deploy::Report| {
        r.images
            .iter()
            .map(|i| i.manifest_digest.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(digests(&first), digests(&second));
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["deploy"], "no temporary folder is left behind");

    let foreign = tmp.path().join("mine");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "keep me").unwrap();
    let err = write(&plan(), &foreign).unwrap_err().to_string();
    assert!(err.contains("refusing to replace"), "{err}");
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "keep me"
    );
}
