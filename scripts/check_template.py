"""Fails when a CloudFormation/SAM template's resources depend on each other in a cycle, or when a
policy could grant a wildcard where a name belongs.

CloudFormation rejects a cycle only at deploy time, and the SAM validators do not report it (a
function policy that refers to the bucket that triggers it is the classic case). Nor do they see
that a parameter placed in a policy's Resource or Principal accepts `*`: every such parameter
must declare an AllowedPattern that refuses wildcards, a parameter placed just before a `*` (a
prefix) must refuse the empty prefix and end in `/`, and no Allow statement may name `*` itself.

  check_template.py TEMPLATE...
"""

import re
import sys

import yaml

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from iam_from_template import CfnLoader  # noqa: E402


def references(node, names):
    """Resource names that `node` refers to with Ref, GetAtt, Sub or Condition-free DependsOn."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and value in names:
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else value.split(".")[0]
                if target in names:
                    found.add(target)
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                for ref in re.findall(r"\$\{([^}!.]+)", text):
                    if ref in names:
                        found.add(ref)
                if not isinstance(value, str):
                    found |= references(value[1], names)
            else:
                found |= references(value, names)
    elif isinstance(node, list):
        for item in node:
            found |= references(item, names)
    return found


# Values a parameter that becomes a name in a policy must refuse.
WILDCARDS = [
    "*",
    "?",
    "name*",
    "arn:aws:s3:::*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:kms:us-east-1:123456789012:key/*",
    "arn:aws:kms:us-east-1:123456789012:*",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
    "arn:aws:iam::123456789012:*",
    "arn:aws:iam::123456789012:role/*",
]


def policy_names(node, found):
    """Every (where, value) a policy statement names as a Resource or Principal."""
    if isinstance(node, dict):
        if "Effect" in node and ("Resource" in node or "Principal" in node):
            for field in ("Resource", "Principal"):
                if field in node:
                    found.append((node, field, node[field]))
        for value in node.values():
            policy_names(value, found)
    elif isinstance(node, list):
        for item in node:
            policy_names(item, found)
    return found


def parameters_in(node, params, before_star):
    """Parameters `node` refers to (Ref, or ${Name} in Sub); those written just before a `*`
    go into `before_star` too."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and value in params:
                found.add(value)
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                for ref, star in re.findall(r"\$\{([^}!.]+)\}(\*?)", text):
                    if ref in params:
                        found.add(ref)
                        if star:
                            before_star.add(ref)
                if not isinstance(value, str):
                    found |= parameters_in(value[1], params, before_star)
            else:
                found |= parameters_in(value, params, before_star)
    elif isinstance(node, list):
        for item in node:
            found |= parameters_in(item, params, before_star)
    return found


def literal_wildcards(node):
    """Plain strings in `node` that are a wildcard on their own."""
    if isinstance(node, str):
        return [node] if node.strip() in ("*", "arn:aws:s3:::*") else []
    if isinstance(node, list):
        return [w for item in node for w in literal_wildcards(item)]
    if isinstance(node, dict) and "AWS" in node:
        return literal_wildcards(node["AWS"])
    return []


def wildcard_problems(template):
    """Why a policy of `template` could name a wildcard where a name belongs."""
    params = template.get("Parameters", {})
    problems = []
    statements = policy_names(template.get("Resources", {}), [])
    named, before_star = set(), set()
    for statement, field, value in statements:
        if statement.get("Effect") == "Allow":
            for w in literal_wildcards(value):
                problems.append(f"statement {statement.get('Sid', '?')}: {field} {w!r}")
        named |= parameters_in(value, params, before_star)
    for name in sorted(named):
        pattern = params[name].get("AllowedPattern")
        if pattern is None and "AllowedValues" not in params[name]:
            problems.append(f"parameter {name} becomes a name in a policy but has no AllowedPattern")
            continue
        if pattern is None:
            continue
        accepted = [w for w in WILDCARDS if re.fullmatch(pattern, w)]
        if accepted:
            problems.append(f"parameter {name} becomes a name in a policy but its AllowedPattern accepts {accepted[0]!r}")
        if name in before_star:
            for prefix in ("", "prefix"):
                if re.fullmatch(pattern, prefix):
                    problems.append(f"parameter {name} is a prefix in a policy but its AllowedPattern accepts {prefix!r} (not empty, ending in /)")
    return problems


def cycle(graph):
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def main(paths):
    failed = False
    for path in paths:
        with open(path) as f:
            template = yaml.load(f, Loader=CfnLoader)
        problems = wildcard_problems(template)
        for problem in problems:
            print(f"{path}: {problem}")
        resources = template.get("Resources", {})
        names = set(resources)
        graph = {}
        for name, body in resources.items():
            deps = references(body.get("Properties", {}), names)
            depends_on = body.get("DependsOn", [])
            deps |= set([depends_on] if isinstance(depends_on, str) else depends_on)
            graph[name] = deps
        found = cycle(graph)
        if found:
            print(f"{path}: circular dependency: {' -> '.join(found)}")
            failed = True
        elif problems:
            failed = True
        else:
            print(f"{path}: no circular dependencies among {len(graph)} resources; no wildcard where a name belongs")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
