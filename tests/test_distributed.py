"""Multi-process training on CPU (gloo): the global-batch Sinkhorn loss equals the single-process loss,
and `train.py` under DDP keeps ranks in sync and writes one run folder."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from configs.loading import load_config, to_plain
from lightning_modules import InformativeOTGAN
from lightning_modules.latent import LatentBatch

WORLD, N = 2, 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_problem():
    torch.manual_seed(0)
    cfg = to_plain(load_config(["model.latent.categorical=[4]", "model.latent.continuous=1"]).model)
    model = InformativeOTGAN(cfg, (2,)).double()
    generator = torch.Generator().manual_seed(1)
    latent = model.latent_spec.sample(N, generator)
    latent = LatentBatch(latent.categorical, latent.continuous.double(), latent.noise.double())
    fake = torch.randn(N, 2, generator=generator, dtype=torch.float64)
    real = torch.randn(N, 2, generator=generator, dtype=torch.float64) + 0.5
    return model, latent, fake, real


def solve(model, latent, fake, real):
    fake = fake.clone().requires_grad_()
    result, log_q = model.solve(model.features(fake), model.features(real), latent, model.training_posterior(real))
    code_loss = model.plan_weighted_cross_entropy(log_q, result.plan)
    (grad,) = torch.autograd.grad(result.divergence, fake)
    energy = model.critic_energy_distance(model.features(fake), model.features(real))  # eq. (16), the critic's
    (energy_grad,) = torch.autograd.grad(energy, fake)
    return result.divergence.detach(), code_loss.detach(), grad, energy.item(), energy_grad


def rank_worker(rank, port, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    model, latent, fake, real = make_problem()
    local = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
    part = LatentBatch(latent.categorical[local], latent.continuous[local], latent.noise[local])
    assert model.gathers_global_batch
    divergence, code_loss, grad, energy, energy_grad = solve(model, part, fake[local], real[local])
    total_code_loss = code_loss.clone()
    dist.all_reduce(total_code_loss)
    # Plain values, not tensors: a tensor is passed as a file descriptor that the receiver must fetch from
    # this process, which may have exited by then (seen on a loaded machine).
    queue.put((rank, divergence.item(), total_code_loss.item(), grad.numpy(), energy, energy_grad.numpy()))
    dist.destroy_process_group()


@pytest.mark.slow
def test_gathered_loss_on_two_processes_equals_single_process_loss_on_the_whole_batch():
    model, latent, fake, real = make_problem()
    divergence, code_loss, grad, energy, energy_grad = solve(model, latent, fake, real)
    context = mp.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=rank_worker, args=(rank, free_port_once, queue))
                 for free_port_once in [free_port()] for rank in range(WORLD)]
    for process in processes:
        process.start()
    results = sorted(queue.get(timeout=120) for _ in range(WORLD))
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    for rank, rank_divergence, total_code_loss, rank_grad, rank_energy, rank_energy_grad in results:
        assert rank_divergence == pytest.approx(divergence.item(), abs=1e-10)
        assert total_code_loss == pytest.approx(code_loss.item(), abs=1e-10)
        assert rank_energy == pytest.approx(energy, abs=1e-10)
        local = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
        torch.testing.assert_close(torch.from_numpy(rank_grad), grad[local], atol=1e-10, rtol=1e-8)
        torch.testing.assert_close(torch.from_numpy(rank_energy_grad), energy_grad[local], atol=1e-10, rtol=1e-8)


def ddp_run(run_dir, *extra, devices=2, timeout=600):
    args = [sys.executable, "train.py", "experiment=gaussians", "trainer.accelerator=cpu", f"trainer.devices={devices}",
            "trainer.strategy=ddp" if devices > 1 else "trainer.strategy=auto", "data.batch_size=32",
            "logger.mode=disabled", "trainer.enable_progress_bar=false", "callbacks.metrics.num_generated=2000",
            f"run_dir={run_dir}", *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_ddp_training_keeps_ranks_in_sync_and_writes_one_run_folder(tmp_path):
    run_dir = tmp_path / "ddp"
    result = ddp_run(run_dir, "trainer.max_steps=6")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["ddp/ranks_in_sync"] == 1.0
    assert summary["iterations"] == 6 and "eval/code_purity" in summary
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "config.yaml", "csv", "summary.json"] + (
        ["traversals"] if (run_dir / "traversals").exists() else [])
    # a DDP checkpoint resumes on one device
    resumed = subprocess.run([sys.executable, "train.py", f"resume={run_dir}", "trainer.max_steps=8",
                              "trainer.devices=1", "trainer.strategy=auto"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["iterations"] == 8
    # and the reverse: a checkpoint written on one device resumes under DDP
    again = subprocess.run([sys.executable, "train.py", f"resume={run_dir}", "trainer.max_steps=10",
                            "trainer.devices=2", "trainer.strategy=ddp"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["iterations"] == 10 and summary["ddp/ranks_in_sync"] == 1.0


@pytest.mark.slow
def test_ddp_with_the_simultaneous_update_and_an_averaged_generator_keeps_ranks_in_sync(tmp_path):
    """The digits recipe's update (one solve for critic, generator and Q) under DDP: every parameter has a
    gradient, the global batch's gradients are all-reduced and the ranks stay bit for bit equal."""
    run_dir = tmp_path / "ddp"
    result = ddp_run(run_dir, "trainer.max_steps=4", "model.critic.kind=mlp", "model.critic.hidden=32",
                     "model.simultaneous_updates=true", "model.generator.average=0.9")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["ddp/ranks_in_sync"] == 1.0 and summary["iterations"] == 4 and summary["optimizer_steps"] == 12


class TwoRanks(torch.nn.Module):
    """A module whose all_gather returns rank 0's weights and another rank's, ``offset`` apart."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.arange(4.0))
        self.offset, self.iteration = offset, 7

    def all_gather(self, tensor):
        return torch.stack([tensor, tensor + self.offset])


@pytest.mark.parametrize("offset,expected", [(0.0, 1.0), (1e-7, 0.0)])
def test_ranks_in_sync_compares_every_rank_bit_for_bit(offset, expected):
    from types import SimpleNamespace

    from callbacks.ranks_in_sync import RanksInSync

    trainer = SimpleNamespace(world_size=2, loggers=[], callback_metrics={})
    RanksInSync().on_train_end(trainer, TwoRanks(offset))
    assert float(trainer.callback_metrics["ddp/ranks_in_sync"]) == expected
    one_device = SimpleNamespace(world_size=1, loggers=[], callback_metrics={})
    RanksInSync().on_train_end(one_device, TwoRanks(1.0))
    assert one_device.callback_metrics == {}, "nothing to compare on one device"


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Lightning's launcher starts rank 1 as a child of rank 0)."""
    children = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as file:
                    parent = int(file.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                children.append(int(entry.name))
    return children


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds rank 1's process through /proc")
def test_a_killed_rank_stops_the_other_within_seconds_naming_it_and_the_checkpoint_resumes(tmp_path):
    """Rank 1 killed with SIGKILL (as the out-of-memory killer does) in the middle of training: rank 0 stops
    within seconds with one line naming rank 1 and the resume command, no traceback, and the last checkpoint
    loads and resumes."""
    import signal
    import time

    from callbacks.checkpoint import read_checkpoint
    from configs.loading import locate_run
    from train import build_model

    run_dir = tmp_path / "ddp"
    args = [sys.executable, "train.py", "experiment=gaussians", "trainer.accelerator=cpu", "trainer.devices=2",
            "trainer.strategy=ddp", "data.batch_size=32", "logger.mode=disabled", "trainer.enable_progress_bar=false",
            "callbacks.metrics.num_generated=2000", "trainer.max_steps=100000",
            "callbacks.checkpoint.every_n_iterations=5",
            f"run_dir={run_dir}"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert checkpoint.exists(), process.communicate(timeout=60)[1][-3000:]
    (rank_1,) = child_pids(process.pid)
    os.kill(rank_1, signal.SIGKILL)
    killed = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    seconds_to_stop = time.monotonic() - killed
    assert process.returncode == 4, stderr[-3000:]
    assert seconds_to_stop < 30, f"rank 0 took {seconds_to_stop:.1f} s to stop"
    assert stderr.strip().splitlines()[-1] == (
        f"error: rank 1 was lost (killed by SIGKILL, which the out-of-memory killer sends too); the last checkpoint "
        f"is intact: resume with: python train.py resume={run_dir}")
    assert "Traceback" not in stderr and "GLHF" not in stderr

    cfg = load_config([f"resume={run_dir}"])
    state = read_checkpoint(locate_run(run_dir)[0], build_model(cfg, (2,)))
    iterations = state["global_step"] // 2
    assert iterations >= 5 and iterations % 5 == 0
    resumed = subprocess.run([sys.executable, "train.py", f"resume={run_dir}", f"trainer.max_steps={iterations + 2}",
                              "trainer.devices=1", "trainer.strategy=auto"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["iterations"] == iterations + 2
