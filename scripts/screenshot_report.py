"""Screenshot a run's report.html with the OS headless browser (docs/img/report_demo.png is made with this).

python scripts/screenshot_report.py runs/demo docs/img/report_demo.png [--height 9000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from judgerl.evaluation.report import write_report
from judgerl.testing.browser import screenshot


def main() -> None:
    """Write the run's report, screenshot it and print the PNG's path."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--width", type=int, default=1200)
    p.add_argument("--height", type=int, default=9000)
    args = p.parse_args()
    page = write_report(args.run_dir)
    print(screenshot(page, args.out, args.width, args.height))


if __name__ == "__main__":
    main()
