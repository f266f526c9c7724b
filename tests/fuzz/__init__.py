"""Fuzz tests: mutated real .kmod files and kernels fed to check, sim and manifest."""
