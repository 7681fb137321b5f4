"""The residency manager's decisions on a CPU: a fake device, a fake budget and a recording mover tell which models
sit where after each step of a request (plan -> encode -> denoise -> decode -> plan again)."""

from __future__ import annotations

import pytest
import torch

from unison_agent.contract.errors import UnisonError
from unison_agent.models.residency import GB, Residency, module_bytes


def _kit(budget_gb):
    moved = []
    r = Residency(
        "cuda", int(budget_gb * GB), mover=lambda m, d: moved.append(d), size_of=lambda m: int(m * GB)
    )  # a "module" here is its size in GB
    # published sizes in bf16 (approximate): planner 7.5, umT5-XXL 11, VACE-1.3B 4 (with its context blocks), VAE 0.5
    for name, size in (("planner", 7.5), ("text_encoder", 11), ("transformer", 4), ("vae", 0.5)):
        r.add(name, size)
    return r, moved


def test_a_request_fits_24_gb_with_models_leaving_when_idle():
    r, _ = _kit(22)
    with r.use("planner"):  # plan + projector input
        assert r.where()["planner"] == "cuda"
    with r.use("text_encoder"):  # encode the prompt: the planner still fits (7.5 + 11 <= 22), so it stays
        assert r.where() == {"planner": "cuda", "text_encoder": "cuda", "transformer": "cpu", "vae": "cpu"}
    with r.use("transformer", "vae"):  # denoise + decode: room is needed, least recently used leaves first
        w = r.where()
        assert w["transformer"] == w["vae"] == "cuda" and w["planner"] == "cpu"
        assert r.resident_bytes() <= 22 * GB
    with r.use("planner"):  # the next request's plan: the text encoder (idle longest) makes room
        assert r.where()["planner"] == "cuda" and r.where()["text_encoder"] == "cpu"
    assert r.resident_bytes() <= 22 * GB


def test_without_a_budget_nothing_is_moved_out():
    r = Residency("cuda", None, mover=lambda m, d: None, size_of=lambda m: int(m * GB))
    for name, size in (("planner", 7.5), ("text_encoder", 11)):
        r.add(name, size)
    with r.use("planner"), r.use("text_encoder"):
        pass
    assert set(r.where().values()) == {"cuda"} and r.moves == [("planner", "cuda"), ("text_encoder", "cuda")]


def test_models_in_use_are_never_evicted_and_too_big_is_a_clear_error():
    r, _ = _kit(12)
    with r.use("text_encoder"):
        with pytest.raises(UnisonError, match="memory budget"):
            r.acquire("text_encoder", "planner")  # 18.5 GB together > 12
        assert r.where()["text_encoder"] == "cuda"
    r.release("text_encoder")
    assert r.where()["text_encoder"] == "cpu"


def test_real_modules_move_and_are_measured():
    lin = torch.nn.Linear(16, 16)
    assert module_bytes(lin) == (16 * 16 + 16) * 4
    r = Residency("meta", module_bytes(lin) * 2)  # the meta device stands in for a GPU on a CPU machine
    r.add("a", lin)
    r.add("b", torch.nn.Linear(16, 16))
    with r.use("a"):
        assert lin.weight.device.type == "meta"
    with r.use("b"):
        pass
    assert r.where() == {"a": "meta", "b": "meta"}
