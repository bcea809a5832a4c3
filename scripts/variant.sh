# Sourced by scripts/contrast_pilot.sh and scripts/gpu_train_generator.sh: a training variant's
# name -> `dnd train --objective` (VOBJ) and extra flags (VFLAGS).
#   functional, contrastive, hybrid, reconstruction   the objective alone
#   contrastive-detach   the hinge without gradient into the partner (--contrast-detach)
#   contrastive-cap      the partner's loss capped at the reference's (--contrast-cap)
variant() {
  case $1 in
    functional|contrastive|hybrid|reconstruction) VOBJ=$1 VFLAGS="" ;;
    contrastive-detach) VOBJ=contrastive VFLAGS="--contrast-detach" ;;
    contrastive-cap) VOBJ=contrastive VFLAGS="--contrast-cap" ;;
    *) echo "unknown training variant '$1' (functional, contrastive, contrastive-detach, contrastive-cap, hybrid, reconstruction)" >&2
       return 2 ;;
  esac
}
