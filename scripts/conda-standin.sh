#!/usr/bin/env bash
# Makes a Python venv look like a conda environment to basilisk 1.10, which
# otherwise cannot run an existing environment offline (it wants conda):
# conda-meta/, a `conda` that succeeds (bin/ and condabin/, where reticulate
# looks), and a conda.sh whose `conda activate ENV` sources ENV/bin/activate. Point BASILISK_EXTERNAL_CONDA at the venv to use it.
# Newer basilisk (>= 1.22) runs pip venvs directly and needs none of this.
set -euo pipefail
venv=${1:?usage: conda-standin.sh VENV}
mkdir -p "$venv/conda-meta" "$venv/condabin" "$venv/etc/profile.d"
cat > "$venv/bin/conda" <<'SH'
#!/bin/sh
exit 0
SH
chmod +x "$venv/bin/conda"
ln -sf ../bin/conda "$venv/condabin/conda"
cat > "$venv/etc/profile.d/conda.sh" <<'SH'
conda() {
    if [ "$1" = "activate" ] && [ -n "$2" ]; then
        . "$2/bin/activate"
    fi
}
SH
