"""`veil serve` (the service) and `veil keys` (its API keys)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import Options, VeilError
from ..options import CommandParser, specs
from ..scale.runtime import cluster_for_workers
from .app import HOUR, ServiceConfig, create_app
from .store import Store


def serve_parser() -> CommandParser:
    """`veil serve`'s flags, each with its default in --help."""
    p = CommandParser(
        prog="veil serve",
        usage="veil serve [--host HOST] [--port PORT] [--data-dir DIR] [options]",
        description="Run the HTTP service and the review page (open http://HOST:PORT/).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("veil-data"),
        help="jobs, uploads and results (default ./veil-data)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="worker processes (default 0: one per core, at most 4)",
    )
    p.add_argument(
        "--result-ttl",
        type=float,
        default=24.0,
        help="hours before results are deleted (default 24)",
    )
    p.add_argument(
        "--review-ttl",
        type=float,
        default=1.0,
        help="hours a review may keep an original after its job ends (default 1)",
    )
    p.add_argument(
        "--max-upload-mb", type=float, default=200.0, help="request size limit (default 200)"
    )
    for spec in specs(group="limits"):  # the same limits, with the same flags, as the CLI
        spec.add_to(p)
    p.add_argument(
        "--max-queue", type=int, default=256, help="jobs waiting or running (default 256)"
    )
    p.add_argument(
        "--job-timeout",
        type=float,
        default=600.0,
        help="seconds one job may take; past it the job fails (default 600)",
    )
    p.add_argument(
        "--job-memory-mb",
        type=int,
        default=3072,
        help="data memory a worker may use, models included (default 3072; 0: no cap)",
    )
    p.add_argument(
        "--upload-timeout",
        type=float,
        default=300.0,
        help="seconds an upload may take to arrive (default 300)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run the jobs on a Ray cluster (needs veil[ray]): at ADDRESS, or RAY_ADDRESS, or "
        "a Ray runtime started here; --workers jobs at once",
    )
    p.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        help="uploads a minute per API key (default 0: no limit)",
    )
    return p


def serve_main(argv: Sequence[str]) -> int:
    p = serve_parser()
    args = p.parse_args(argv)
    try:
        chosen = Options.from_flat({s.name: getattr(args, s.name) for s in specs(group="limits")})
    except VeilError as exc:
        p.error(str(exc))
    try:
        import uvicorn
    except ImportError:
        print("veil serve needs the server extra: pip install 'veil[server]'", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.ray is not None:
        try:
            args.ray = cluster_for_workers(args.ray)
        except VeilError as exc:
            print(f"veil serve: {exc}", file=sys.stderr)
            return 2
    config = ServiceConfig(
        data_dir=args.data_dir,
        workers=args.workers,
        result_ttl=args.result_ttl * HOUR,
        review_ttl=args.review_ttl * HOUR,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        limits=chosen.limits,
        max_queue=args.max_queue,
        job_timeout=args.job_timeout,
        job_memory_mb=args.job_memory_mb,
        upload_timeout=args.upload_timeout,
        rate_limit=args.rate_limit,
        ray=args.ray,
    )
    try:
        app = create_app(config)
    except VeilError as exc:
        print(f"veil serve: {exc}", file=sys.stderr)
        return 2
    # No access log: it would hold client addresses; the app logs requests without them.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None)
    return 0


def keys_main(argv: Sequence[str]) -> int:
    p = CommandParser(
        prog="veil keys",
        usage="veil keys {add,remove,list} [NAME] [--data-dir DIR]",
        description="API keys for `veil serve`. With at least one key, every /v1 request needs "
        "one. Keys are stored hashed; a new key is printed once.",
    )
    p.add_argument("action", choices=["add", "remove", "list"])
    p.add_argument("name", nargs="?", help="a label for the key (add, remove)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("veil-data"),
        help="the service's data folder (default ./veil-data)",
    )
    args = p.parse_args(argv)
    try:
        store = Store(args.data_dir)
    except VeilError as exc:
        print(f"veil keys: {exc}", file=sys.stderr)
        return 2
    if args.action == "list":
        for name in store.key_names():
            print(name)
        return 0
    if not args.name:
        p.error(f"{args.action} needs a key name")
    if args.action == "add":
        try:
            print(store.add_key(args.name))
        except ValueError as exc:
            print(f"veil keys: {exc}", file=sys.stderr)
            return 2
        return 0
    if not store.remove_key(args.name):
        print(f"veil keys: no key named {args.name!r}", file=sys.stderr)
        return 2
    return 0
