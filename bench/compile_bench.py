#!/usr/bin/env python3
"""Compile + validate a generated config of 2,000 models and 500 fallback chains.

Prints wall time and peak memory (ru_maxrss of a fresh child process, so the figure is the
compiler's alone). Target (issue 3): under 1 s and under 200 MB.
Run: .venv/bin/python bench/compile_bench.py
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
N_MODELS, N_CHAINS, N_PROVIDERS = 2000, 500, 20


def write_sources(d: Path) -> None:
    kinds = ["ollama", "vllm", "llama_cpp", "openai_compatible"]
    providers = {}
    for p in range(N_PROVIDERS):
        providers[f"prov-{p}"] = {
            "type": kinds[p % len(kinds)],
            "base_url": f"http://host-{p}:8000",
            "models": [
                {
                    "name": f"model-{p}-{i}",
                    "aliases": [f"alias-{p}-{i}"],
                    "context_window": 8192,
                    "capabilities": ["chat"],
                }
                for i in range(N_MODELS // N_PROVIDERS)
            ],
        }
    names = [f"model-{p}-{i}" for p in range(N_PROVIDERS) for i in range(N_MODELS // N_PROVIDERS)]
    chains = {
        names[i]: {"chain": [names[(i + 1 + k) % len(names)] for k in range(3)]} for i in range(0, N_CHAINS * 3, 3)
    }  # chains point forward only: no cycles
    (d / "providers.yaml").write_text(yaml.safe_dump({"providers": providers}))
    (d / "model-mappings.yaml").write_text(yaml.safe_dump({"fallback_chains": chains}))


def child(d: str) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from gwops.config.pipeline import compile_sources

    t0 = time.perf_counter()
    compiled = compile_sources(Path(d), naming="kebab-case", env={})
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": round(wall, 3),
                "peak_rss_mb": round(peak_mb, 1),
                "deployments": len(compiled.config["model_list"]),
                "fallback_chains": len(compiled.config["router_settings"].get("fallbacks", [])),
                "bytes": len(compiled.text),
            }
        )
    )


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    with tempfile.TemporaryDirectory() as d:
        write_sources(Path(d))
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--child", d], capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(3)
        ]
    best = min(runs, key=lambda r: r["seconds"])
    print(
        f"compile+validate {N_MODELS} models, {N_CHAINS} fallback chains: "
        f"best of 3 {best['seconds']:.3f} s (runs: {', '.join(str(r['seconds']) for r in runs)}), "
        f"peak RSS {max(r['peak_rss_mb'] for r in runs):.0f} MB (includes the interpreter), "
        f"{best['deployments']} deployments, {best['bytes']} bytes; target < 1 s and < 200 MB"
    )


if __name__ == "__main__":
    main()
