"""Sampling: workers that own environments and return whole paths as numpy."""
from awr_mimic.sampling.base import PathBatch, Sampler
from awr_mimic.sampling.local import LocalSampler

__all__ = ["LocalSampler", "PathBatch", "Sampler", "make_sampler", "BACKENDS"]

BACKENDS = ("local", "ray")


def make_sampler(env_spec, policy_kwargs, seed: int = 0, workers: int | None = None, backend: str = "local",
                 envs_per_worker: int = 1, address: str | None = None):
    """A sampler for `env_spec`.

    backend "local": worker processes on this machine (the default, no extra install);
    "ray": one Ray actor per worker (``pip install 'awr-mimic[ray]'``), on a local Ray instance
    (`address` None) or a running cluster (`address` "auto" or "HOST:PORT"). Both give the same
    samples for the same seed and worker count.
    """
    if backend == "local":
        return LocalSampler(env_spec, policy_kwargs, seed=seed, workers=workers, envs_per_worker=envs_per_worker)
    if backend == "ray":
        from awr_mimic.sampling.ray_backend import RaySampler

        return RaySampler(env_spec, policy_kwargs, seed=seed, workers=workers, envs_per_worker=envs_per_worker,
                          address=address)
    from awr_mimic.errors import unknown_name

    raise unknown_name("sampler backend", backend, BACKENDS)
