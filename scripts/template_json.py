#!/usr/bin/env python3
"""Prints template.yaml as JSON twice: as written (CloudFormation tags such as !Ref become their
Fn:: form, with SAM's own YAML loader) and after the SAM transform (what CloudFormation deploys).

Used by tests/template.rs for the checks the linters miss.

With --build-template it prints instead the template as written without its nested
applications: what `make test` gives `sam build`, which otherwise asks the Serverless Application
Repository for the Power Tuning app (credentials and network, even when the app is switched off).
The functions, the only things `sam build` builds, are unchanged. Runs offline: as `sam deploy`
would, the code location becomes an S3 URI and the nested Power Tuning app's Serverless
Application Repository location a template URL (placeholders: nothing is fetched).
"""
import copy
import json
import os
import sys
from pathlib import Path

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no managed policies by name, so there is nothing to look up."""

    def load(self):
        return {}


def without_applications(template: dict) -> dict:
    t = copy.deepcopy(template)
    apps = {k for k, r in t.get("Resources", {}).items() if r.get("Type") == "AWS::Serverless::Application"}
    for k in apps:
        del t["Resources"][k]
    outputs = t.get("Outputs", {})
    for name in [n for n, o in outputs.items() if any(f'"{a}' in json.dumps(o) for a in apps)]:
        del outputs[name]
    return t


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    # The transform resolves AWS::Region/AWS::Partition from the session; any region will do.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    path = Path(args[0] if args else "template.yaml")
    written = yaml_parse(path.read_text())
    if "--build-template" in sys.argv:
        json.dump(without_applications(written), sys.stdout, indent=1)
        print()
        return 0
    offline = copy.deepcopy(written)
    # What `sam deploy` uploads: the built code goes to S3, the nested app's template is fetched.
    function_globals = offline.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = "s3://example-bucket/code.zip"
    for resource in offline.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in properties:
            properties["CodeUri"] = "s3://example-bucket/code.zip"
        if resource.get("Type") == "AWS::Serverless::Application":
            properties["Location"] = "https://example.invalid/nested-app.yaml"
    transformed = transform(offline, {}, NoManagedPolicies())
    json.dump({"template": written, "transformed": transformed}, sys.stdout, indent=1, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
