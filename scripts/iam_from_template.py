"""Reads the replicator role's policy out of template.yaml, with parameters substituted, and
(optionally) creates IAM users in a moto server: an admin, and a replicator whose policy is
exactly the role's statements. This is how tests prove the template's role is sufficient and
no broader than it says.

  iam_from_template.py TEMPLATE [--param NAME=VALUE ...]           print the policy document
  iam_from_template.py TEMPLATE --endpoint URL [--param ...]       create users, print their keys
  ... --role BatchOperationsRole                                     another role's policy instead
  ... --policy JSON                                                  this policy document instead
  iam_from_template.py TEMPLATE --function-env [--param ...]       print the function's environment
  iam_from_template.py TEMPLATE --bucket-events [--param ...]      print the subscribed S3 events
  iam_from_template.py TEMPLATE --dashboard [--param ...]          print the dashboard's body
  iam_from_template.py TEMPLATE --alarms [--param ...]             print the alarms created, resolved
  iam_from_template.py TEMPLATE --resource NAME[.PROP] [--param ...] a resource's properties

Parameters are checked against their AllowedPattern, as CloudFormation checks them.

The user set-up makes exactly SETUP_CALLS requests, so the server can be started with
INITIAL_NO_AUTH_ACTION_COUNT=SETUP_CALLS and enforce IAM for everything after.
"""

import argparse
import json
import re
import sys

import yaml

SETUP_CALLS = 6
ACCOUNT = "123456789012"
REGION = "us-east-1"


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsic tags."""


def _intrinsic(loader, tag_suffix, node):
    name = tag_suffix
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    key = name if name in ("Ref", "Condition") else f"Fn::{name}"
    return {key: value}


CfnLoader.add_multi_constructor("!", _intrinsic)

NO_VALUE = object()


class Resolver:
    def __init__(self, template, params, stack="s3-replicator"):
        self.template = template
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            if name in params:
                value = params[name]
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                sys.exit(f"parameter {name} has no default: pass --param {name}=...")
            if spec["Type"] == "CommaDelimitedList":
                value = [v.strip() for v in value.split(",")] if value else []
            # As CloudFormation does: a value its AllowedPattern refuses fails the deployment
            # (each element of a list).
            pattern = spec.get("AllowedPattern")
            for v in (value if isinstance(value, list) else [value]):
                if pattern is not None and not re.fullmatch(pattern, v):
                    sys.exit(f"parameter {name}: {v!r} does not match its AllowedPattern {pattern}")
            self.params[name] = value
        self.pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": stack,
            "AWS::NoValue": NO_VALUE,
        }

    def ref(self, name):
        if name in self.params:
            return self.params[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.template.get("Resources", {}):
            return name  # a resource's physical id: its logical id stands in for it here
        sys.exit(f"cannot resolve Ref {name} outside a deployment")

    def get_att(self, resource, attribute):
        kind = self.template["Resources"][resource]["Type"]
        if kind == "AWS::Logs::LogGroup":
            name = self.resolve(self.template["Resources"][resource]["Properties"]["LogGroupName"])
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
        if kind == "AWS::SQS::Queue":
            if attribute == "QueueName":
                return resource
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{resource}"
        if kind == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{resource}"
        sys.exit(f"cannot resolve GetAtt {resource}.{attribute}")

    def condition(self, name):
        return self.truth(self.template["Conditions"][name])

    def truth(self, node):
        ((fn, args),) = node.items()
        if fn == "Fn::Equals":
            return self.resolve(args[0]) == self.resolve(args[1])
        if fn == "Fn::Not":
            return not self.truth(args[0])
        if fn == "Fn::Or":
            return any(self.truth(a) for a in args)
        if fn == "Fn::And":
            return all(self.truth(a) for a in args)
        if fn == "Condition":
            return self.condition(args)
        sys.exit(f"unsupported condition {fn}")

    def sub(self, template, variables):
        out, i = "", 0
        while i < len(template):
            start = template.find("${", i)
            if start < 0:
                out += template[i:]
                break
            end = template.index("}", start)
            out += template[i:start]
            name = template[start + 2:end]
            if name in variables:
                value = variables[name]
            elif "." in name:
                value = self.get_att(*name.split(".", 1))
            else:
                value = self.ref(name)
            out += value
            i = end + 1
        return out

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(n) for n in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, args),) = node.items()
            if key == "Ref":
                return self.ref(args)
            if key == "Fn::GetAtt":
                return self.get_att(*args)
            if key == "Fn::If":
                return self.resolve(args[1] if self.condition(args[0]) else args[2])
            if key == "Fn::Sub":
                if isinstance(args, str):
                    return self.sub(args, {})
                variables = {k: self.resolve(v) for k, v in args[1].items()}
                return self.sub(args[0], variables)
            if key == "Fn::Join":
                return args[0].join(self.resolve(args[1]))
            if key == "Fn::Split":
                return self.resolve(args[1]).split(args[0])
            if key == "Fn::Select":
                return self.resolve(args[1])[int(self.resolve(args[0]))]
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def role_policy(template_path, params, role_name="ReplicatorRole"):
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    resolver = Resolver(template, params)
    resource = template["Resources"][role_name]
    if "Condition" in resource and not resolver.condition(resource["Condition"]):
        sys.exit(f"{role_name} is not created with these parameters")
    role = resolver.resolve(resource["Properties"])
    statements = []
    for policy in role.get("Policies", []):
        statements.extend(policy["PolicyDocument"]["Statement"])
    return {"Version": "2012-10-17", "Statement": statements}


def function_env(template_path, params):
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    resolver = Resolver(template, params)
    function = template["Resources"]["ReplicatorFunction"]["Properties"]
    return resolver.resolve(function["Environment"]["Variables"])


def resource(template_path, params, name):
    """A resource's properties (NAME), or one of them (NAME.PROPERTY), resolved."""
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    name, _, prop = name.partition(".")
    node = template["Resources"][name]["Properties"]
    return Resolver(template, params).resolve(node[prop] if prop else node)


def bucket_events(template_path, params):
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    resolver = Resolver(template, params)
    bucket = resolver.resolve(template["Resources"]["SourceBucket"]["Properties"])
    notifications = bucket["NotificationConfiguration"]
    configurations = notifications.get("LambdaConfigurations", []) + notifications.get(
        "QueueConfigurations", [])
    return [c["Event"] for c in configurations]


def dashboard(template_path, params):
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    resolver = Resolver(template, params)
    return resolver.resolve(template["Resources"]["Dashboard"]["Properties"]["DashboardBody"])


def alarms(template_path, params):
    """Every CloudWatch alarm the stack creates with these parameters: name -> properties."""
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    resolver = Resolver(template, params)
    out = {}
    for name, res in template["Resources"].items():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        if "Condition" in res and not resolver.condition(res["Condition"]):
            continue
        out[name] = resolver.resolve(res["Properties"])
    return out


def create_users(endpoint, policy):
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    admin_policy = {"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    keys = {}
    for user, document in (("admin", admin_policy), ("replicator", policy)):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="policy", PolicyDocument=json.dumps(document))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    return keys


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("template")
    parser.add_argument("--param", action="append", default=[])
    parser.add_argument("--endpoint")
    parser.add_argument("--function-env", action="store_true")
    parser.add_argument("--bucket-events", action="store_true")
    parser.add_argument("--role", default="ReplicatorRole")
    parser.add_argument("--dashboard", action="store_true")
    parser.add_argument("--alarms", action="store_true")
    parser.add_argument("--policy", help="a policy document (JSON) instead of the role's")
    parser.add_argument("--resource", help="print this resource's properties, resolved")
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    if args.bucket_events:
        print(json.dumps(bucket_events(args.template, params)))
        sys.exit(0)
    if args.resource:
        print(json.dumps(resource(args.template, params, args.resource)))
        sys.exit(0)
    if args.dashboard:
        print(dashboard(args.template, params))
        sys.exit(0)
    if args.alarms:
        print(json.dumps(alarms(args.template, params)))
        sys.exit(0)
    if args.function_env:
        print(json.dumps(function_env(args.template, params)))
        sys.exit(0)
    policy = json.loads(args.policy) if args.policy else role_policy(args.template, params, args.role)
    if args.endpoint:
        print(json.dumps({"policy": policy, "users": create_users(args.endpoint, policy)}))
    else:
        print(json.dumps(policy, indent=2))
