//! Fission specs for container functions: per deployable an `Environment`, a `Function` (executor
//! `container`, the image as its pod) and an `HTTPTrigger` (`POST /<name>`), plus the
//! `DeploymentConfig` that `fission spec apply` needs.
//!
//! How quilt.toml maps onto Fission:
//!
//! | quilt.toml | Fission |
//! |---|---|
//! | `memory_mb`, `cpu` | container `resources` requests = limits (`<n>Mi`, `<n>m`), also `spec.resources` |
//! | `min_instances`, `max_instances` | `ExecutionStrategy.MinScale`, `MaxScale` |
//! | `concurrency` | `requestsPerPod` |
//! | `max_instances` | `concurrency` (pods specialized at once) |
//! | `timeout_ms` | `functionTimeout` (seconds, rounded up) |
//! | `[platform] idle_timeout_s` | `idletimeout` |
//!
//! The function's container gets `QUILT_GATEWAY` = Fission's router, so remote invocations
//! (`POST /<callee>`) go through the router and its HTTP triggers, as they go through the gateway
//! locally; `QUILT_ENTRY` names the entry that serves `/` (Fission's router forwards a trigger's
//! requests to the pod's `/`); and the OTLP variables tell a trace exporter where the collector is.
//!
//! The `Environment` records the runtime image; its warm pool is empty (`poolsize: 0`), since the
//! container executor runs the function's own pod spec and no generic pods are needed.

use crate::Unit;
use serde_json::{json, Value};

/// Fission's router inside the cluster.
pub const DEFAULT_ROUTER: &str = "router.fission.svc.cluster.local:80";
/// Where traces go by default: an OpenTelemetry collector's OTLP/HTTP port.
pub const DEFAULT_OTLP_ENDPOINT: &str =
    "http://otel-collector.observability.svc.cluster.local:4318";
/// Routes Fission's router keeps for itself: a function named so cannot have an HTTP trigger.
pub const RESERVED_ROUTES: &[&str] = &["router-healthz", "readyz"];
/// The API version of Fission's resources.
pub const API_VERSION: &str = "fission.io/v1";

/// How to write the specs.
#[derive(Debug, Clone)]
pub struct FissionOptions {
    /// Kubernetes namespace of the resources.
    pub namespace: String,
    /// `host:port` of Fission's router (the functions' `QUILT_GATEWAY`).
    pub router: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` of every function.
    pub otlp_endpoint: String,
    /// Seconds an idle function pod is kept (`idletimeout`).
    pub idle_timeout_s: u64,
    /// Extra environment for every function (e.g. storage addresses).
    pub env: Vec<(String, String)>,
}

impl Default for FissionOptions {
    fn default() -> Self {
        FissionOptions {
            namespace: "default".into(),
            router: DEFAULT_ROUTER.into(),
            otlp_endpoint: DEFAULT_OTLP_ENDPOINT.into(),
            idle_timeout_s: 120,
            env: Vec::new(),
        }
    }
}

/// `<n>Mi`.
pub fn memory_quantity(mb: u64) -> String {
    format!("{mb}Mi")
}

/// Millicores, at least 1: `<n>m`.
pub fn cpu_quantity(cores: f64) -> String {
    format!("{}m", ((cores * 1000.0).round() as u64).max(1))
}

fn labels(app: &str, unit: &Unit) -> Value {
    json!({
        "app.kubernetes.io/name": unit.name,
        "app.kubernetes.io/part-of": app,
        "app.kubernetes.io/managed-by": "quilt",
    })
}

/// The environment of a function's container (beyond what the image sets).
pub fn container_env(unit: &Unit, opts: &FissionOptions) -> Vec<(String, String)> {
    let mut env = vec![
        ("QUILT_GATEWAY".to_string(), opts.router.clone()),
        ("QUILT_FUNCTION".to_string(), unit.name.clone()),
        ("QUILT_ENTRY".to_string(), unit.entry.clone()),
        ("QUILT_PORT".to_string(), crate::oci::PORT.to_string()),
        ("QUILT_BIND".to_string(), "0.0.0.0".to_string()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_string(),
            opts.otlp_endpoint.clone(),
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL".to_string(),
            "http/protobuf".to_string(),
        ),
        ("OTEL_SERVICE_NAME".to_string(), unit.name.clone()),
        ("OTEL_PROPAGATORS".to_string(), "tracecontext".to_string()),
    ];
    for (k, v) in &opts.env {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

fn resources(unit: &Unit) -> Value {
    let r = json!({
        "memory": memory_quantity(unit.memory_mb),
        "cpu": cpu_quantity(unit.cpu),
    });
    json!({ "requests": r, "limits": r })
}

/// The `Environment` of a deployable.
pub fn environment(app: &str, unit: &Unit, image: &str, opts: &FissionOptions) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "Environment",
        "metadata": {
            "name": unit.name,
            "namespace": opts.namespace,
            "labels": labels(app, unit),
        },
        "spec": {
            "version": 3,
            "poolsize": 0,
            "runtime": { "image": image },
            "resources": resources(unit),
            "allowedFunctionsPerContainer": "single",
            "terminationGracePeriod": 30,
        },
    })
}

/// The `Function` of a deployable: executor `container`, the image as its pod.
pub fn function(app: &str, unit: &Unit, image: &str, opts: &FissionOptions) -> Value {
    let env: Vec<Value> = container_env(unit, opts)
        .into_iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "Function",
        "metadata": {
            "name": unit.name,
            "namespace": opts.namespace,
            "labels": labels(app, unit),
            "annotations": {
                "quilt.dev/entry": unit.entry,
                "quilt.dev/members": unit.members.join(","),
            },
        },
        "spec": {
            "environment": { "name": unit.name, "namespace": opts.namespace },
            // The container executor runs the pod spec; no package (an empty reference would
            // break the CRD's name pattern).
            "package": {},
            "InvokeStrategy": {
                "StrategyType": "execution",
                "ExecutionStrategy": {
                    "ExecutorType": "container",
                    "MinScale": unit.min_scale,
                    "MaxScale": unit.max_scale.max(1),
                    "SpecializationTimeout": 120,
                },
            },
            "concurrency": unit.max_scale.max(1),
            "requestsPerPod": unit.concurrency.max(1),
            "functionTimeout": unit.timeout_ms.div_ceil(1000).max(1),
            "idletimeout": opts.idle_timeout_s,
            "resources": resources(unit),
            "podspec": {
                "terminationGracePeriodSeconds": 30,
                "containers": [{
                    "name": unit.name,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{
                        "name": "http-env",
                        "containerPort": crate::oci::PORT,
                        "protocol": "TCP",
                    }],
                    "env": env,
                    "resources": resources(unit),
                }],
            },
        },
    })
}

/// The `HTTPTrigger` of a deployable: `POST /<name>` on the router.
pub fn http_trigger(app: &str, unit: &Unit, opts: &FissionOptions) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "HTTPTrigger",
        "metadata": {
            "name": unit.name,
            "namespace": opts.namespace,
            "labels": labels(app, unit),
        },
        "spec": {
            "relativeurl": format!("/{}", unit.name),
            "methods": ["POST"],
            "createingress": false,
            "functionref": { "type": "name", "name": unit.name },
        },
    })
}

/// The `DeploymentConfig` of `fission spec apply`: its uid is derived from the app and namespace,
/// so re-deploying updates (and prunes) the same set of resources.
pub fn deployment_config(app: &str, opts: &FissionOptions) -> Value {
    let d = crate::oci::digest(format!("quilt:{}:{app}", opts.namespace).as_bytes());
    let h = &d["sha256:".len()..];
    let uid = format!(
        "{}-{}-5{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    json!({
        "apiVersion": API_VERSION,
        "kind": "DeploymentConfig",
        "name": app,
        "uid": uid,
    })
}

/// A YAML document of a resource.
pub fn to_yaml(doc: &Value) -> anyhow::Result<String> {
    Ok(serde_yaml::to_string(doc)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(memory_quantity(64), "64Mi");
        assert_eq!(cpu_quantity(0.5), "500m");
        assert_eq!(cpu_quantity(0.0001), "1m");
        assert_eq!(cpu_quantity(2.0), "2000m");
    }

    #[test]
    fn deployment_uid_is_stable_and_uuid_shaped() {
        let a = deployment_config("hello", &FissionOptions::default());
        let b = deployment_config("hello", &FissionOptions::default());
        assert_eq!(a, b);
        let uid = a["uid"].as_str().unwrap();
        let parts: Vec<usize> = uid.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn extra_env_overrides() {
        let unit = Unit::example("hello");
        let opts = FissionOptions {
            env: vec![("QUILT_GATEWAY".into(), "gw:80".into())],
            ..FissionOptions::default()
        };
        let env = container_env(&unit, &opts);
        let gws: Vec<_> = env.iter().filter(|(k, _)| k == "QUILT_GATEWAY").collect();
        assert_eq!(gws, [&("QUILT_GATEWAY".to_string(), "gw:80".to_string())]);
    }
}
