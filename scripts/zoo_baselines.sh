# Sourced by scripts/unseen_benchmark.sh and scripts/generator_ladder.sh:
#   zoo_baselines ZOO_DIR   sets ZOO_METHODS (",nearest,average,training_loras", ",nearest" or "")
#                           and NEAR_FLAGS (an array) from the task LoRAs the zoo holds:
#   every `wide` task's     -> the nearest, average and training-LoRA baselines
#   some (nearest_zoo.sh's) -> the nearest LoRA alone, retrieved among all tasks of
#                              NEAREST_AMONG (default wide: --nearest-among wide; the run
#                              stops if the zoo lacks a hit); NEAREST_AMONG= (empty): all
#                              three over the zoo's own tasks (a small test zoo)
#   none                    -> none of them
zoo_baselines() {
  local holds
  holds=$(${PY:-.venv/bin/python} -c "
import json, sys
from dnd.tasks.registry import pick_tasks
held = set(json.load(open(sys.argv[1] + '/manifest.json'))['tasks'])
print('all' if held >= set(pick_tasks(sys.argv[2], None)) else 'some' if held else 'none')" "$1" "${NEAREST_AMONG:-wide}")
  NEAR_FLAGS=()
  case $holds in
    all) ZOO_METHODS=,nearest,average,training_loras ;;
    some) if [ -n "${NEAREST_AMONG-wide}" ]; then
            ZOO_METHODS=,nearest; NEAR_FLAGS=(--nearest-among "${NEAREST_AMONG-wide}")
          else
            ZOO_METHODS=,nearest,average,training_loras
          fi ;;
    *) ZOO_METHODS= ;;
  esac
}
