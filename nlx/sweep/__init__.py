"""Sweeps: ablation matrices, run planning, local and SLURM launchers."""
