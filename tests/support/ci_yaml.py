#!/usr/bin/python3
"""ci_yaml.py - reads the CI examples (examples/ci) for tests/integration/ci_examples.sh.

    ci_yaml.py check github|gitlab FILE SRC   the file parses (PyYAML) and has the shape the
                                              README promises; exit 1 with the reasons if not
    ci_yaml.py commands github|gitlab FILE    each `polyws check` command the file runs, one a
                                              line (continuations joined; GitHub's ${{ matrix.shard }}
                                              and ${{ strategy.job-total }} become $SHARD_I, $SHARD_N)

The shape: a matrix (GitHub: strategy.matrix.shard = 1..N; GitLab: parallel: N) whose job runs
polyws check with --junit FILE and --shard I/N taken from the matrix; the JUnit file published
(GitHub: actions/upload-artifact with if: always(), then a JUnit report action reading it; GitLab:
artifacts:reports:junit, when: always); the package lists and CMake options the build uses exist
in the polyws source tree SRC.
"""
import os
import re
import shlex
import sys

import yaml


def load(path):
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = "%s:%d:%d" % (path, mark.line + 1, mark.column + 1) if mark else path
        sys.exit("%s: not valid YAML: %s" % (where, getattr(e, "problem", e)))


def scripts_github(doc):
    """(job name, job, step, script) for every run step."""
    for name, job in (doc.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            if isinstance(step, dict) and "run" in step:
                yield name, job, step, step["run"]


def scripts_gitlab(doc):
    for name, job in doc.items():
        if isinstance(job, dict) and "script" in job:
            for line in job["script"]:
                yield name, job, None, line


def polyws_commands(script):
    """The polyws check commands in a shell script (continuations joined)."""
    joined = re.sub(r"\\\n[ \t]*", " ", script)
    return [ln.strip() for ln in joined.splitlines() if re.match(r"\s*polyws check\b", ln)]


def github_expr(cmd):
    cmd = cmd.replace("${{ matrix.shard }}", "$SHARD_I").replace("${{ strategy.job-total }}", "$SHARD_N")
    if "${{" in cmd:
        sys.exit("unexpected expression in: " + cmd)
    return cmd


def option_value(cmd, opt):
    words = shlex.split(cmd)
    for i, w in enumerate(words):
        if w == opt and i + 1 < len(words):
            return words[i + 1]
        if w.startswith(opt + "="):
            return w[len(opt) + 1:]
    return None


def check_build(scripts, src, problems):
    """The package lists and -D options the build scripts use exist in SRC."""
    text = "\n".join(s for s in scripts)
    lists = set(re.findall(r"\$POLYWS_SRC/packages/([a-z]+\.txt)", text))
    if not {"build.txt", "runtime.txt"} <= lists:
        problems.append("does not install from packages/build.txt and packages/runtime.txt (uses: %s)"
                        % sorted(lists))
    for lst in lists:
        if not os.path.isfile(os.path.join(src, "packages", lst)):
            problems.append("packages/%s does not exist in %s" % (lst, src))
    with open(os.path.join(src, "CMakeLists.txt")) as f:
        options = set(re.findall(r"option\((\w+)", f.read())) | {"CMAKE_BUILD_TYPE"}
    for d in re.findall(r"-D(\w+)=", text):
        if d not in options:
            problems.append("cmake option -D%s is not an option of polyws's CMakeLists.txt" % d)
    if "cmake --install" not in text:
        problems.append("no cmake --install")


def check_github(doc, src):
    problems = []
    if not isinstance(doc, dict) or "jobs" not in doc or not ("on" in doc or True in doc):
        return ["not a workflow: no 'on' or no 'jobs'"]
    jobs = doc["jobs"]
    for name, job in jobs.items():
        if "runs-on" not in job or not isinstance(job.get("steps"), list):
            problems.append("job %s: no runs-on or no steps list" % name)
            continue
        for need in ([job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs") or []):
            if need not in jobs:
                problems.append("job %s needs %s, which is no job" % (name, need))
        for step in job["steps"]:
            if not isinstance(step, dict) or ("uses" in step) == ("run" in step):
                problems.append("job %s: a step must have exactly one of uses/run: %r" % (name, step))
    checks = [(n, j, s, c) for n, j, s, r in scripts_github(doc) for c in polyws_commands(r)]
    if not checks:
        return problems + ["no step runs polyws check"]
    for name, job, step, cmd in checks:
        shard = (((job.get("strategy") or {}).get("matrix")) or {}).get("shard")
        if not (isinstance(shard, list) and len(shard) >= 2 and shard == list(range(1, len(shard) + 1))):
            problems.append("job %s: strategy.matrix.shard is not the list 1..N (N >= 2): %r" % (name, shard))
        if option_value(cmd, "--shard") != "${{ matrix.shard }}/${{ strategy.job-total }}":
            problems.append("job %s: --shard is not ${{ matrix.shard }}/${{ strategy.job-total }}" % name)
        junit = option_value(cmd, "--junit")
        if not junit:
            problems.append("job %s: polyws check without --junit" % name)
            continue
        uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")
                   and junit in str((s.get("with") or {}).get("path", ""))]
        if not uploads or not all("always()" in str(s.get("if", "")) for s in uploads):
            problems.append("job %s: %s is not uploaded by actions/upload-artifact with if: always()" % (name, junit))
        reporters = [s for j in jobs.values() for s in j.get("steps") or []
                     if re.match(r"(mikepenz/action-junit-report|dorny/test-reporter)@", str(s.get("uses", "")))]
        if not any(junit in str((s.get("with") or {}).get("report_paths", (s.get("with") or {}).get("path", "")))
                   for s in reporters):
            problems.append("no JUnit report action reads %s" % junit)
    check_build([r for _, _, _, r in scripts_github(doc)], src, problems)
    return problems


def check_gitlab(doc, src):
    problems = []
    if not isinstance(doc, dict):
        return ["not a mapping"]
    stages = doc.get("stages") or ["build", "test", "deploy"]
    jobs = {n: j for n, j in doc.items() if isinstance(j, dict) and "script" in j}
    for name, job in jobs.items():
        if not isinstance(job["script"], list) or not all(isinstance(x, str) for x in job["script"]):
            problems.append("job %s: script is not a list of strings" % name)
        if job.get("stage", "test") not in stages:
            problems.append("job %s: stage %s is not in stages" % (name, job.get("stage")))
        for need in job.get("needs") or []:
            if need not in jobs:
                problems.append("job %s needs %s, which is no job" % (name, need))
    checks = [(n, j, c) for n, j, _, line in scripts_gitlab(doc) for c in polyws_commands(line)]
    if not checks:
        return problems + ["no job runs polyws check"]
    for name, job, cmd in checks:
        par = job.get("parallel")
        if not (isinstance(par, int) and par >= 2):
            problems.append("job %s: parallel is not a number >= 2: %r" % (name, par))
        if option_value(cmd, "--shard") != "$CI_NODE_INDEX/$CI_NODE_TOTAL":
            problems.append("job %s: --shard is not $CI_NODE_INDEX/$CI_NODE_TOTAL" % name)
        junit = option_value(cmd, "--junit")
        arts = job.get("artifacts") or {}
        if not junit or (arts.get("reports") or {}).get("junit") != junit:
            problems.append("job %s: artifacts:reports:junit is not the --junit file %s" % (name, junit))
        if arts.get("when") != "always":
            problems.append("job %s: artifacts are not kept when the job fails (when: always)" % name)
    check_build([line for _, _, _, line in scripts_gitlab(doc)], src, problems)
    return problems


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("check", "commands") or sys.argv[2] not in ("github", "gitlab"):
        sys.exit(__doc__)
    what, kind, path = sys.argv[1:4]
    doc = load(path)
    if what == "check":
        problems = (check_github if kind == "github" else check_gitlab)(doc, sys.argv[4])
        for p in problems:
            print("%s: %s" % (path, p))
        return 1 if problems else 0
    scripts = scripts_github(doc) if kind == "github" else scripts_gitlab(doc)
    for _, _, _, script in scripts:
        for cmd in polyws_commands(script):
            print(github_expr(cmd) if kind == "github" else cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
