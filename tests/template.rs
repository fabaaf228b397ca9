//! template.yaml, checked for what `sam validate --lint` and `cfn-lint` do not know about this
//! project: memory and timeout within Lambda's limits, both architectures from one build, Text
//! logs for Power Tuning, function roles that may only write to their own log group and PutItem
//! into the io table, and the Power Tuning app scoped to the probe functions; and the Lambda
//! Managed Instances variants: off by default, a capacity provider per architecture whose
//! operator role has AWS's managed policy and nothing else, the ratio and concurrency within
//! LMI's documented ranges (`lambda_probe::lambda_model::managed`), which the linters check only
//! after the transform.
//!
//! scripts/template_json.py reads the YAML with SAM's own loader (CloudFormation tags such as !Ref
//! included) and runs the SAM transform offline, so the roles SAM generates are checked as
//! CloudFormation will create them.

use lambda_probe::lambda_model::managed;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

const BASIC_EXECUTION_ROLE: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
const POWER_TUNING_APP: &str =
    "arn:aws:serverlessrepo:us-east-1:451282441545:applications/aws-lambda-power-tuning";
const LAMBDA_MIN_MB: i64 = 128;
const LAMBDA_MAX_MB: i64 = 10_240;
const LAMBDA_MAX_TIMEOUT_S: i64 = 900;
/// The least a capacity provider's operator role needs, and all it gets.
const LMI_OPERATOR_POLICY: &str = "arn:aws:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator";
/// `MaxVCpuCount` of a capacity provider's scaling configuration (CloudFormation's range).
const LMI_MAX_VCPU_RANGE: (i64, i64) = (2, 15_000);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (template as written, template after the SAM transform)
fn load_template() -> (Value, Value) {
    let python = repo().join(".venv/bin/python");
    let out = Command::new(&python)
        .current_dir(repo())
        .args(["scripts/template_json.py", "template.yaml"])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh first)", python.display()));
    assert!(
        out.status.success(),
        "scripts/template_json.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Value = serde_json::from_slice(&out.stdout).expect("JSON from template_json.py");
    (v["template"].take(), v["transformed"].take())
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    t["Resources"]
        .as_object()
        .map(|r| r.iter().filter(|(_, v)| v["Type"] == kind).collect())
        .unwrap_or_default()
}

/// The parameter a `{"Ref": name}` names, if the value is one.
fn referenced_parameter<'a>(t: &'a Value, v: &Value) -> Option<(&'a str, &'a Value)> {
    let name = v.get("Ref")?.as_str()?;
    t["Parameters"]
        .as_object()?
        .get_key_value(name)
        .map(|(k, p)| (k.as_str(), p))
}

fn as_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// A numeric property: a literal within [lo, hi], or a Number parameter whose MinValue, MaxValue
/// and Default all are.
fn check_bounded(t: &Value, what: &str, v: &Value, lo: i64, hi: i64, p: &mut Vec<String>) {
    if let Some((name, param)) = referenced_parameter(t, v) {
        let min = as_int(&param["MinValue"]);
        let max = as_int(&param["MaxValue"]);
        let default = as_int(&param["Default"]);
        if param["Type"] != "Number" {
            p.push(format!("{what}: parameter {name} must be of Type Number"));
        }
        match (min, max, default) {
            (Some(min), Some(max), Some(d)) => {
                if min < lo || max > hi || min > max {
                    p.push(format!(
                        "{what}: parameter {name} allows {min}..={max}, Lambda allows {lo}..={hi}"
                    ));
                }
                if d < min.max(lo) || d > max.min(hi) {
                    p.push(format!(
                        "{what}: parameter {name} defaults to {d}, outside its range"
                    ));
                }
            }
            _ => p.push(format!(
                "{what}: parameter {name} needs MinValue, MaxValue and Default"
            )),
        }
    } else {
        match as_int(v) {
            Some(x) if (lo..=hi).contains(&x) => {}
            _ => p.push(format!("{what} = {v} is not within {lo}..={hi}")),
        }
    }
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().unwrap_or("?").to_string())
            .collect(),
        _ => vec![],
    }
}

fn table_arn(table: &str) -> Value {
    json!({"Fn::GetAtt": [table, "Arn"]})
}

/// Everything the linters would let through but this project does not.
fn problems(written: &Value, transformed: &Value) -> Vec<String> {
    let mut p = Vec::new();

    // --- the table
    let tables = resources_of_type(transformed, "AWS::DynamoDB::Table");
    if tables.len() != 1 {
        p.push(format!(
            "expected one DynamoDB table, found {}",
            tables.len()
        ));
    }
    let table = tables.first().map(|(n, _)| n.as_str()).unwrap_or("?");
    if let Some((_, t)) = tables.first() {
        let props = &t["Properties"];
        if props["BillingMode"] != "PAY_PER_REQUEST" {
            p.push("the table must be on-demand (BillingMode PAY_PER_REQUEST)".into());
        }
        if props["TimeToLiveSpecification"]
            != json!({"AttributeName": "expires_at", "Enabled": true})
        {
            p.push("the table needs TTL enabled on expires_at".into());
        }
    }

    // --- the functions, as CloudFormation will create them (the Lambda Managed Instances ones
    // are checked the same way, except for their logs and memory, and again below)
    let functions = resources_of_type(transformed, "AWS::Lambda::Function");
    let mut arches = Vec::new();
    let mut lmi_arches = Vec::new();
    for (name, f) in &functions {
        let props = &f["Properties"];
        let what = |field: &str| format!("{name}.{field}");
        let lmi = is_lmi(f);
        match props["Architectures"].as_array().map(Vec::as_slice) {
            Some([a]) if lmi => lmi_arches.push(a.as_str().unwrap_or("?").to_string()),
            Some([a]) => arches.push(a.as_str().unwrap_or("?").to_string()),
            _ => p.push(format!(
                "{name}: Architectures must name exactly one architecture"
            )),
        }
        if props["Runtime"] != "provided.al2023" {
            p.push(format!("{name}: Runtime must be provided.al2023"));
        }
        if props["Handler"] != "bootstrap" {
            p.push(format!("{name}: Handler must be bootstrap"));
        }
        if lmi {
            if props["LoggingConfig"]["LogFormat"] != "JSON" {
                p.push(format!(
                    "{name}: LoggingConfig.LogFormat must be JSON (Lambda Managed Instances log in the structured JSON format)"
                ));
            }
        } else if props["LoggingConfig"]["LogFormat"] != "Text" {
            p.push(format!(
                "{name}: LoggingConfig.LogFormat must be Text (Power Tuning parses the REPORT line)"
            ));
        }
        let (min_mb, max_mb) = if lmi {
            (managed::MIN_MEMORY_MB as i64, managed::MAX_MEMORY_MB as i64)
        } else {
            (LAMBDA_MIN_MB, LAMBDA_MAX_MB)
        };
        check_bounded(
            transformed,
            &what("MemorySize"),
            &props["MemorySize"],
            min_mb,
            max_mb,
            &mut p,
        );
        check_bounded(
            transformed,
            &what("Timeout"),
            &props["Timeout"],
            1,
            LAMBDA_MAX_TIMEOUT_S,
            &mut p,
        );
        if props["Environment"]["Variables"]["TABLE_NAME"] != json!({"Ref": table}) {
            p.push(format!(
                "{name}: TABLE_NAME must be the table (Ref {table})"
            ));
        }

        // The role: write to the function's own log group, PutItem on the table; nothing else.
        let Some(role) = props["Role"]["Fn::GetAtt"][0].as_str() else {
            p.push(format!("{name}: Role must be a role of this template"));
            continue;
        };
        let role_props = &transformed["Resources"][role]["Properties"];
        // A managed policy (SAM's AWSLambdaBasicExecutionRole among them) grants logs on "*".
        if !role_props["ManagedPolicyArns"].is_null() {
            p.push(format!(
                "{role}: no managed policies (AWSLambdaBasicExecutionRole writes to any log group), got {}",
                role_props["ManagedPolicyArns"]
            ));
        }
        for key in ["PermissionsBoundary"] {
            if !role_props[key].is_null() {
                p.push(format!("{role}: unexpected {key}"));
            }
        }
        let trust = &role_props["AssumeRolePolicyDocument"]["Statement"];
        if trust
            != &json!([{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}])
        {
            p.push(format!("{role}: only Lambda may assume it, got {trust}"));
        }
        let own_group = match props["LoggingConfig"]["LogGroup"]["Ref"].as_str() {
            Some(g) => json!({"Fn::GetAtt": [g, "Arn"]}),
            None => {
                p.push(format!(
                    "{name}: LoggingConfig.LogGroup must be a log group of this template"
                ));
                Value::Null
            }
        };
        let statements: Vec<&Value> = role_props["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|pol| match &pol["PolicyDocument"]["Statement"] {
                Value::Array(s) => s.iter().collect::<Vec<_>>(),
                s @ Value::Object(_) => vec![s],
                _ => vec![],
            })
            .collect();
        let (mut put_item, mut logs) = (0, 0);
        for s in statements {
            if s["Effect"] != "Allow" || !s["NotAction"].is_null() || !s["NotResource"].is_null() {
                p.push(format!("{role}: only plain Allow statements, got {s}"));
            }
            let resource = match &s["Resource"] {
                Value::Array(a) if a.len() == 1 => a[0].clone(),
                other => other.clone(),
            };
            let mut acts = actions(s);
            acts.sort();
            match acts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["dynamodb:PutItem"] => {
                    put_item += 1;
                    if resource != table_arn(table) {
                        p.push(format!(
                            "{role}: PutItem's resource must be the table's ARN only, got {}",
                            s["Resource"]
                        ));
                    }
                }
                ["logs:CreateLogStream", "logs:PutLogEvents"] => {
                    logs += 1;
                    if resource != own_group {
                        p.push(format!(
                            "{role}: logs only on the function's own log group ({own_group}), got {}",
                            s["Resource"]
                        ));
                    }
                }
                _ => p.push(format!(
                    "{role}: actions must be exactly dynamodb:PutItem, or logs:CreateLogStream + \
                     logs:PutLogEvents, got {acts:?}"
                )),
            }
        }
        if put_item != 1 || logs != 1 {
            p.push(format!(
                "{role}: needs one PutItem statement for the io workload and one for its own log \
                 group, got {put_item} and {logs}"
            ));
        }
        // No other policy resource may attach itself to the role.
        for kind in [
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::IAM::RolePolicy",
        ] {
            for (pname, pol) in resources_of_type(transformed, kind) {
                if pol["Properties"]
                    .to_string()
                    .contains(&format!("\"{role}\""))
                {
                    p.push(format!("{pname} ({kind}) adds permissions to {role}"));
                }
            }
        }
    }
    arches.sort();
    if arches != ["arm64", "x86_64"] {
        p.push(format!(
            "expected one arm64 and one x86_64 function, got {arches:?}"
        ));
    }
    lmi_arches.sort();
    if lmi_arches != ["arm64", "x86_64"] {
        p.push(format!(
            "expected one arm64 and one x86_64 Lambda Managed Instances function, got {lmi_arches:?}"
        ));
    }

    // --- both built from one source by cargo-lambda (only the written template has Metadata
    // and CodeUri as SAM reads them)
    let globals_code = &written["Globals"]["Function"]["CodeUri"];
    let mut code_uris = Vec::new();
    for (name, f) in resources_of_type(written, "AWS::Serverless::Function") {
        if f["Metadata"]["BuildMethod"] != "rust-cargolambda" {
            p.push(format!(
                "{name}: Metadata.BuildMethod must be rust-cargolambda"
            ));
        }
        if f["Metadata"]["BuildProperties"]["Binary"] != "lambda-probe" {
            p.push(format!(
                "{name}: BuildProperties.Binary must be lambda-probe"
            ));
        }
        let code = match &f["Properties"]["CodeUri"] {
            Value::Null => globals_code.clone(),
            c => c.clone(),
        };
        code_uris.push(code);
        if is_lmi(f) {
            // Checked with the capacity providers below.
            continue;
        }
        // Each architecture can be switched off, and is on by default.
        let on_by_default = f["Condition"]
            .as_str()
            .and_then(|c| written["Conditions"][c]["Fn::Equals"].as_array())
            .is_some_and(|eq| {
                eq.iter().any(|x| {
                    referenced_parameter(written, x)
                        .is_some_and(|(_, param)| eq.contains(&param["Default"]))
                })
            });
        if !on_by_default {
            p.push(format!(
                "{name}: needs a Condition on a parameter that switches it, on by default"
            ));
        }
    }
    code_uris.dedup();
    if code_uris.len() != 1 {
        p.push(format!(
            "the functions must share one CodeUri, got {code_uris:?}"
        ));
    }

    // --- Power Tuning: optional, off by default, scoped to the probe functions
    let apps = resources_of_type(written, "AWS::Serverless::Application");
    match apps.as_slice() {
        [(name, app)] => {
            let loc = &app["Properties"]["Location"];
            if loc["ApplicationId"] != POWER_TUNING_APP || loc["SemanticVersion"] != "4.4.0" {
                p.push(format!(
                    "{name}: must be Power Tuning 4.4.0 from the SAR, got {loc}"
                ));
            }
            let off_by_default = app["Condition"]
                .as_str()
                .and_then(|c| written["Conditions"][c]["Fn::Equals"].as_array())
                .is_some_and(|eq| {
                    eq.contains(&json!("true"))
                        && eq.iter().any(|x| {
                            referenced_parameter(written, x)
                                .is_some_and(|(_, param)| param["Default"] == "false")
                        })
                });
            if !off_by_default {
                p.push(format!(
                    "{name}: must sit behind a condition that is off by default"
                ));
            }
            let scope = app["Properties"]["Parameters"]["lambdaResource"]["Fn::Sub"]
                .as_str()
                .unwrap_or("");
            let prefix = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:";
            match scope.strip_prefix(prefix) {
                Some(pattern) if pattern.len() > 1 && !pattern.starts_with('*') => {
                    let head = pattern.trim_end_matches('*');
                    for (fname, f) in resources_of_type(written, "AWS::Serverless::Function") {
                        let fn_name = f["Properties"]["FunctionName"]["Fn::Sub"].as_str();
                        if is_lmi(f) {
                            // Power Tuning cannot tune an LMI function: out of its reach.
                            if fn_name.is_none_or(|n| n.starts_with(head)) {
                                p.push(format!(
                                    "{fname}: a Lambda Managed Instances function must be named outside Power Tuning's lambdaResource {scope:?}, got {fn_name:?}"
                                ));
                            }
                            continue;
                        }
                        if !fn_name.is_some_and(|n| n.starts_with(head) && n != head) {
                            p.push(format!(
                                "{fname}: its FunctionName {fn_name:?} is outside Power Tuning's lambdaResource {scope:?}"
                            ));
                        }
                    }
                }
                _ => p.push(format!(
                    "{name}: lambdaResource must name the probe functions' prefix in this account and region, got {scope:?}"
                )),
            }
        }
        other => p.push(format!(
            "expected one Power Tuning application, found {}",
            other.len()
        )),
    }

    // --- Outputs make tune and make invoke read
    let outputs = written["Outputs"].as_object().cloned().unwrap_or_default();
    for key in [
        "Arm64FunctionName",
        "Arm64FunctionArn",
        "X86FunctionName",
        "X86FunctionArn",
        "TableName",
        "PowerTuningStateMachineArn",
        "Arm64LogGroupName",
        "X86LogGroupName",
        "Arm64LmiFunctionName",
        "X86LmiFunctionName",
    ] {
        if !outputs.contains_key(key) {
            p.push(format!("Outputs.{key} is missing"));
        }
    }
    p.extend(lmi_problems(written, transformed));
    p
}

/// A function on Lambda Managed Instances (as written or as transformed).
fn is_lmi(f: &Value) -> bool {
    !f["Properties"]["CapacityProviderConfig"].is_null()
}

/// True when `condition` (a name in Conditions) is false with every parameter at its default:
/// an `Fn::Equals` of a parameter with a value it does not default to, or an `Fn::And` with
/// such a member.
fn off_by_default(t: &Value, condition: &str) -> bool {
    let c = &t["Conditions"][condition];
    if let Some(eq) = c["Fn::Equals"].as_array() {
        return eq.iter().any(|x| {
            referenced_parameter(t, x).is_some_and(|(_, param)| {
                eq.iter()
                    .any(|other| other != x && !other.is_object() && *other != param["Default"])
            })
        });
    }
    if let Some(all) = c["Fn::And"].as_array() {
        return all.iter().any(|m| {
            m["Condition"]
                .as_str()
                .is_some_and(|inner| off_by_default(t, inner))
        });
    }
    false
}

/// The Lambda Managed Instances variants: behind a condition off by default, one capacity
/// provider and one function per architecture, LMI's ranges, least-privilege roles.
fn lmi_problems(written: &Value, transformed: &Value) -> Vec<String> {
    let mut p = Vec::new();

    // --- as written: off by default, and a rule that asks for the VPC when switched on
    for kind in [
        "AWS::Serverless::Function",
        "AWS::Serverless::CapacityProvider",
    ] {
        for (name, r) in resources_of_type(written, kind) {
            if kind.ends_with("Function") && !is_lmi(r) {
                continue;
            }
            let off = r["Condition"]
                .as_str()
                .is_some_and(|c| off_by_default(written, c));
            if !off {
                p.push(format!(
                    "{name}: Lambda Managed Instances resources must sit behind a condition that is off by default"
                ));
            }
        }
    }
    let vpc_params = ["LmiSubnetIds", "LmiSecurityGroupIds"];
    let rules = written["Rules"].as_object().cloned().unwrap_or_default();
    for param in vpc_params {
        let asked = rules.values().any(|rule| {
            let cond = &rule["RuleCondition"]["Fn::Equals"];
            cond.as_array().is_some_and(|eq| {
                eq.contains(&json!({"Ref": "DeployManagedInstances"}))
                    && eq.contains(&json!("true"))
            }) && rule["Assertions"]
                .to_string()
                .contains(&format!("\"{param}\""))
        });
        if !asked {
            p.push(format!(
                "Rules: nothing asks for {param} when DeployManagedInstances is true"
            ));
        }
    }

    // --- as CloudFormation will create them
    let providers = resources_of_type(transformed, "AWS::Lambda::CapacityProvider");
    let mut provider_arches = Vec::new();
    for (name, cp) in &providers {
        let props = &cp["Properties"];
        match props["InstanceRequirements"]["Architectures"]
            .as_array()
            .map(Vec::as_slice)
        {
            Some([a]) => provider_arches.push(a.as_str().unwrap_or("?").to_string()),
            _ => p.push(format!(
                "{name}: InstanceRequirements.Architectures must name exactly one architecture"
            )),
        }
        for key in ["SubnetIds", "SecurityGroupIds"] {
            let ok = referenced_parameter(transformed, &props["VpcConfig"][key]).is_some_and(
                |(_, d)| {
                    d["Type"] == "CommaDelimitedList"
                        || d["Type"].as_str().is_some_and(|t| t.starts_with("List<"))
                },
            );
            if !ok {
                p.push(format!(
                    "{name}: VpcConfig.{key} must be a list parameter of the template"
                ));
            }
        }
        let (lo, hi) = LMI_MAX_VCPU_RANGE;
        check_bounded(
            transformed,
            &format!("{name}.MaxVCpuCount"),
            &props["CapacityProviderScalingConfig"]["MaxVCpuCount"],
            lo,
            hi,
            &mut p,
        );
        // The operator role: AWS's managed policy for it, trusted by Lambda, nothing more.
        let Some(role) =
            props["PermissionsConfig"]["CapacityProviderOperatorRoleArn"]["Fn::GetAtt"][0].as_str()
        else {
            p.push(format!(
                "{name}: the operator role must be a role of this template"
            ));
            continue;
        };
        let rp = &transformed["Resources"][role]["Properties"];
        if rp["ManagedPolicyArns"] != json!([LMI_OPERATOR_POLICY]) {
            p.push(format!(
                "{role}: managed policies must be exactly [AWSLambdaManagedEC2ResourceOperator], got {}",
                rp["ManagedPolicyArns"]
            ));
        }
        if !rp["Policies"].is_null() || !rp["PermissionsBoundary"].is_null() {
            p.push(format!("{role}: an operator role has no inline policy"));
        }
        let trust = &rp["AssumeRolePolicyDocument"]["Statement"];
        let trusted: Vec<&Value> = trust
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| &s["Principal"])
            .collect();
        if trusted != [&json!({"Service": ["lambda.amazonaws.com"]})] {
            p.push(format!(
                "{role}: only lambda.amazonaws.com may assume the operator role, got {trust}"
            ));
        }
        for kind in [
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::IAM::RolePolicy",
        ] {
            for (pname, pol) in resources_of_type(transformed, kind) {
                if pol["Properties"]
                    .to_string()
                    .contains(&format!("\"{role}\""))
                {
                    p.push(format!("{pname} ({kind}) adds permissions to {role}"));
                }
            }
        }
    }
    provider_arches.sort();
    if provider_arches != ["arm64", "x86_64"] {
        p.push(format!(
            "expected one arm64 and one x86_64 capacity provider, got {provider_arches:?}"
        ));
    }

    for (name, f) in resources_of_type(transformed, "AWS::Lambda::Function") {
        if !is_lmi(f) {
            continue;
        }
        let props = &f["Properties"];
        let cfg = &props["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"];
        // Its provider is this template's, for its own architecture.
        let arn = cfg["CapacityProviderArn"]["Fn::Sub"].as_str().unwrap_or("");
        let provider = arn
            .strip_prefix(
                "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:capacity-provider:${",
            )
            .and_then(|rest| rest.strip_suffix('}'))
            .or_else(|| cfg["CapacityProviderArn"]["Fn::GetAtt"][0].as_str());
        match provider.and_then(|cp| providers.iter().find(|(n, _)| n.as_str() == cp)) {
            Some((cp, r)) => {
                if r["Properties"]["InstanceRequirements"]["Architectures"]
                    != props["Architectures"]
                {
                    p.push(format!(
                        "{name}: its capacity provider {cp} runs another architecture"
                    ));
                }
                if r["Condition"] != f["Condition"] {
                    p.push(format!(
                        "{name}: its capacity provider {cp} must share its Condition"
                    ));
                }
            }
            None => p.push(format!(
                "{name}: CapacityProviderArn must be a capacity provider of this template, got {}",
                cfg["CapacityProviderArn"]
            )),
        }
        // The ratio: a parameter offering only what AWS supports.
        let ratio = &cfg["ExecutionEnvironmentMemoryGiBPerVCpu"];
        match referenced_parameter(transformed, ratio) {
            Some((pname, d)) => {
                let allowed: Vec<f64> = d["AllowedValues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
                    .collect();
                let default = d["Default"]
                    .as_f64()
                    .or_else(|| d["Default"].as_str()?.parse().ok());
                if allowed.is_empty()
                    || allowed
                        .iter()
                        .any(|&r| managed::check_gib_per_vcpu(r).is_err())
                    || !default.is_some_and(|x| allowed.contains(&x))
                {
                    p.push(format!(
                        "{name}.ExecutionEnvironmentMemoryGiBPerVCpu: parameter {pname} must allow only {:?} and default to one of them, got {} (default {})",
                        managed::SUPPORTED_GIB_PER_VCPU, d["AllowedValues"], d["Default"]
                    ));
                }
            }
            None => p.push(format!(
                "{name}.ExecutionEnvironmentMemoryGiBPerVCpu must be a template parameter"
            )),
        }
        check_bounded(
            transformed,
            &format!("{name}.PerExecutionEnvironmentMaxConcurrency"),
            &cfg["PerExecutionEnvironmentMaxConcurrency"],
            managed::MIN_CONCURRENCY as i64,
            managed::MAX_CONCURRENCY as i64,
            &mut p,
        );
        for key in ["VpcConfig", "ProvisionedConcurrencyConfig"] {
            if !props[key].is_null() {
                p.push(format!(
                    "{name}: {key} does not go with a capacity provider"
                ));
            }
        }
    }
    p
}

#[test]
fn the_template_keeps_what_the_linters_do_not_check() {
    let (written, transformed) = load_template();
    let p = problems(&written, &transformed);
    assert!(p.is_empty(), "template.yaml:\n{}", p.join("\n"));
}

/// The checks fail when they should: each edit below breaks one rule.
#[test]
fn the_template_checks_catch_each_broken_rule() {
    let (written, transformed) = load_template();
    type Edit = fn(&mut Value, &mut Value);
    let cases: Vec<(&str, Edit)> = vec![
        ("MemorySize", |_, t| {
            t["Parameters"]["MemorySize"]["MaxValue"] = json!(20480);
        }),
        ("Timeout", |_, t| {
            t["Parameters"]["Timeout"]["MaxValue"] = json!(3600);
        }),
        ("LogFormat", |_, t| {
            t["Resources"]["Arm64Function"]["Properties"]["LoggingConfig"]["LogFormat"] =
                json!("JSON");
        }),
        ("x86_64", |_, t| {
            t["Resources"]["X86Function"]["Properties"]["Architectures"] = json!(["arm64"]);
        }),
        ("dynamodb:PutItem", |_, t| {
            t["Resources"]["Arm64FunctionRole"]["Properties"]["Policies"][1]["PolicyDocument"]
                ["Statement"][0]["Action"] = json!(["dynamodb:PutItem", "dynamodb:Scan"]);
        }),
        ("table's ARN only", |_, t| {
            t["Resources"]["X86FunctionRole"]["Properties"]["Policies"][1]["PolicyDocument"]
                ["Statement"][0]["Resource"] = json!("*");
        }),
        ("own log group", |_, t| {
            t["Resources"]["Arm64FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
                ["Statement"][0]["Resource"] = json!("*");
        }),
        ("own log group", |_, t| {
            // The other function's group is not its own.
            t["Resources"]["X86FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
                ["Statement"][0]["Resource"] = json!({"Fn::GetAtt": ["Arm64LogGroup", "Arn"]});
        }),
        ("logs:PutLogEvents", |_, t| {
            t["Resources"]["Arm64FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
                ["Statement"][0]["Action"] = json!(["logs:CreateLogGroup", "logs:PutLogEvents"]);
        }),
        ("no managed policies", |_, t| {
            t["Resources"]["Arm64FunctionRole"]["Properties"]["ManagedPolicyArns"] =
                json!([BASIC_EXECUTION_ROLE]);
        }),
        ("only Lambda may assume it", |_, t| {
            t["Resources"]["X86FunctionRole"]["Properties"]["AssumeRolePolicyDocument"]
                ["Statement"][0]["Principal"] = json!({"AWS": "*"});
        }),
        ("one PutItem statement", |_, t| {
            t["Resources"]["Arm64FunctionRole"]["Properties"]["Policies"]
                .as_array_mut()
                .unwrap()
                .remove(1);
        }),
        ("TTL", |_, t| {
            t["Resources"]["ResultsTable"]["Properties"]["TimeToLiveSpecification"]
                ["AttributeName"] = json!("ttl");
        }),
        ("off by default", |w, _| {
            w["Parameters"]["DeployPowerTuning"]["Default"] = json!("true");
        }),
        ("lambdaResource", |w, _| {
            w["Resources"]["PowerTuningApp"]["Properties"]["Parameters"]["lambdaResource"] = json!({"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"});
        }),
        ("rust-cargolambda", |w, _| {
            w["Resources"]["X86Function"]["Metadata"]["BuildMethod"] = json!("makefile");
        }),
        ("Outputs.X86FunctionArn", |w, _| {
            w["Outputs"]
                .as_object_mut()
                .unwrap()
                .remove("X86FunctionArn");
        }),
        // --- Lambda Managed Instances
        ("off by default", |w, _| {
            w["Parameters"]["DeployManagedInstances"]["Default"] = json!("true");
        }),
        ("Rules: nothing asks for LmiSubnetIds", |w, _| {
            w["Rules"]
                .as_object_mut()
                .unwrap()
                .remove("ManagedInstancesNeedAVpc");
        }),
        ("ExecutionEnvironmentMemoryGiBPerVCpu", |_, t| {
            t["Parameters"]["LmiMemoryGiBPerVCpu"]["AllowedValues"] = json!([2, 3, 4]);
        }),
        ("ExecutionEnvironmentMemoryGiBPerVCpu", |_, t| {
            t["Parameters"]["LmiMemoryGiBPerVCpu"]["Default"] = json!(6);
        }),
        ("PerExecutionEnvironmentMaxConcurrency", |_, t| {
            t["Parameters"]["LmiMaxConcurrency"]["MaxValue"] = json!(2000);
        }),
        ("Arm64LmiFunction.MemorySize", |_, t| {
            t["Resources"]["Arm64LmiFunction"]["Properties"]["MemorySize"] = json!(1024);
        }),
        ("must be JSON", |_, t| {
            t["Resources"]["X86LmiFunction"]["Properties"]["LoggingConfig"]["LogFormat"] =
                json!("Text");
        }),
        ("AWSLambdaManagedEC2ResourceOperator", |_, t| {
            t["Resources"]["Arm64CapacityProviderOperatorRole"]["Properties"]["ManagedPolicyArns"]
                .as_array_mut()
                .unwrap()
                .push(json!("arn:aws:iam::aws:policy/AdministratorAccess"));
        }),
        ("only lambda.amazonaws.com", |_, t| {
            t["Resources"]["X86CapacityProviderOperatorRole"]["Properties"]
                ["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] =
                json!({"Service": ["ec2.amazonaws.com"]});
        }),
        ("runs another architecture", |_, t| {
            t["Resources"]["Arm64CapacityProvider"]["Properties"]["InstanceRequirements"]
                ["Architectures"] = json!(["x86_64"]);
        }),
        ("MaxVCpuCount", |_, t| {
            t["Resources"]["X86CapacityProvider"]["Properties"]["CapacityProviderScalingConfig"]
                ["MaxVCpuCount"] = json!(1);
        }),
        ("outside Power Tuning", |w, _| {
            w["Resources"]["Arm64LmiFunction"]["Properties"]["FunctionName"] =
                json!({"Fn::Sub": "${AWS::StackName}-probe-lmi-arm64"});
        }),
        ("dynamodb:PutItem", |_, t| {
            t["Resources"]["X86LmiFunctionRole"]["Properties"]["Policies"][1]["PolicyDocument"]
                ["Statement"][0]["Action"] = json!("dynamodb:*");
        }),
        ("own log group", |_, t| {
            t["Resources"]["Arm64LmiFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
                ["Statement"][0]["Resource"] = json!({"Fn::GetAtt": ["Arm64LogGroup", "Arn"]});
        }),
        ("Outputs.Arm64LmiFunctionName", |w, _| {
            w["Outputs"]
                .as_object_mut()
                .unwrap()
                .remove("Arm64LmiFunctionName");
        }),
    ];
    for (needle, edit) in cases {
        let (mut w, mut t) = (written.clone(), transformed.clone());
        edit(&mut w, &mut t);
        let p = problems(&w, &t);
        assert!(
            p.iter().any(|x| x.contains(needle)),
            "breaking {needle:?} went unnoticed: {p:?}"
        );
    }
}
