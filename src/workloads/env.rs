//! env: the sandbox only, no work. The cheapest look at what a memory size gives: arch, CPU,
//! visible cores, cgroup limits, cold or warm (all in `environment`).

use super::{Context, Host, Outcome, Run, Workload};
use crate::error::ProbeError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The env workload.
#[derive(Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct Env;

/// No parameters: `{}` and `{"workload":"env"}` are the same event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvParams {}

/// No figures of its own: `summary` has only the common ones.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvFigures {}

/// env has no per-iteration rows: `samples` is always empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NoSample {}

impl Workload for Env {
    const NAME: &'static str = "env";
    const ABOUT: &'static str = "the sandbox only: arch, CPU model and features, visible cores, cgroup limits, page size, THP, cold/warm";
    type Input = EnvParams;
    type Params = EnvParams;
    type Figures = EnvFigures;
    type Sample = NoSample;

    fn resolve(input: EnvParams, _host: &Host) -> Result<EnvParams, ProbeError> {
        Ok(input)
    }

    async fn run(
        _params: EnvParams,
        _ctx: Context,
    ) -> Result<Outcome<EnvFigures, NoSample>, ProbeError> {
        Ok(Outcome {
            figures: EnvFigures {},
            samples: Vec::new(),
            truncated: None,
        })
    }

    fn summary_text(_run: &Run<Self>) -> String {
        String::new()
    }
}
