import dataclasses, sys
from judgerl.tasks.registry import get_task, register_task
register_task(dataclasses.replace(get_task("mountaincar/reach-flag-v0"), end_caption=sys.argv[1]), overwrite=True)
from judgerl.cli import main
raise SystemExit(main(sys.argv[2:]))
