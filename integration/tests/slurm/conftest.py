"""Fixtures of the Slurm suite: one cluster (login, c1, c2) for the whole folder, its jobs
cancelled after each test so that every test starts on idle nodes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jupyssh_harness import BuiltImage, KeyPair, SlurmCluster, start_slurm_cluster


@pytest.fixture(scope="session")
def slurm_image(harness_images: dict[str, BuiltImage]) -> str:
    return harness_images["slurm"].tag


@pytest.fixture(scope="package")
def slurm_cluster_running(
    slurm_image: str, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SlurmCluster]:
    with start_slurm_cluster(
        slurm_image, tmp_path_factory.mktemp("slurm"), keypair=keypair
    ) as cluster:
        yield cluster


@pytest.fixture
def slurm_cluster(slurm_cluster_running: SlurmCluster) -> Iterator[SlurmCluster]:
    """The folder's cluster, idle at the start of the test and again after it."""
    cluster = slurm_cluster_running
    cluster.wait_idle()
    yield cluster
    cluster.cancel_all()
    cluster.wait_idle()
