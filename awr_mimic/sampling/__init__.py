"""Sampling: workers that own environments and return whole paths as numpy."""
from awr_mimic.sampling.base import PathBatch, Sampler
from awr_mimic.sampling.local import LocalSampler

__all__ = ["LocalSampler", "PathBatch", "Sampler", "make_sampler"]


def make_sampler(env_spec, policy_kwargs, seed: int = 0, workers: int | None = None, backend: str = "local",
                 envs_per_worker: int = 1):
    """A sampler for `env_spec`; `backend` is "local" (processes) - "ray" is planned (issue 6)."""
    if backend == "local":
        return LocalSampler(env_spec, policy_kwargs, seed=seed, workers=workers, envs_per_worker=envs_per_worker)
    from awr_mimic.errors import unknown_name

    raise unknown_name("sampler backend", backend, ["local"])
