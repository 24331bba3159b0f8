#!/usr/bin/python3
"""Writes the small PyTorch checkpoint fixtures under tests/data/torch/.

Run with a Python that has torch (the Debian python3-torch 1.13 works):

    /usr/bin/python3 tools/make_torch_fixtures.py [output_dir]

Writes real torch.save output (zip and legacy formats), variants of it (DEFLATE,
zip64, big-endian marker), checkpoints that must be refused (code-executing
globals, out-of-bounds tensors), and expected.json with the names, dtypes,
shapes and values the reader must produce. The refused files are only ever
written here, never loaded.
"""

import argparse
import collections
import io
import json
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import torch

MARKER = "/tmp/mmgen-pwned"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def torch_save_bytes(obj, legacy=False, protocol=2):
    # Saving into memory names the archive folder "archive" (torch uses the file
    # stem otherwise), which keeps the fixtures byte-stable.
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy, pickle_protocol=protocol)
    return buffer.getvalue()


def write(out_dir, name, data):
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(data)


# ---- tensors and expected values --------------------------------------------------------

DTYPE_NAMES = {
    torch.float32: "f32",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.float64: "f64",
    torch.int64: "i64",
    torch.int32: "i32",
    torch.int16: "i16",
    torch.int8: "i8",
    torch.uint8: "u8",
    torch.bool: "bool",
}


def describe(name, tensor):
    values = tensor.detach().reshape(-1)
    if tensor.dtype in (torch.float16, torch.bfloat16):
        values = values.float()
    if tensor.dtype == torch.bool:
        values = values.to(torch.int64)
    return {
        "name": name,
        "dtype": DTYPE_NAMES[tensor.dtype],
        "shape": list(tensor.shape),
        "strides": list(tensor.stride()),
        "values": values.tolist(),
    }


def plain_state_dict():
    sd = collections.OrderedDict()
    sd["linear.weight"] = torch.tensor([[0.5, -1.25, 2.0], [3.75, -0.125, 1e-3]])
    sd["half"] = torch.tensor([1.5, -2.0, 65504.0, 6e-5], dtype=torch.float16)
    sd["bfloat"] = torch.tensor([[1.0, -3.5], [1e30, -2e-20]], dtype=torch.bfloat16)
    sd["double"] = torch.tensor([3.141592653589793, -1e-300], dtype=torch.float64)
    sd["long"] = torch.tensor([0, -7, 2**40 + 3], dtype=torch.int64)
    sd["int"] = torch.tensor([-2**31, 2**31 - 1], dtype=torch.int32)
    sd["short"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["char"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["byte"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    sd["flags"] = torch.tensor([True, False, False, True, True])
    base = torch.arange(6, dtype=torch.float32).reshape(2, 3) * 1.5
    sd["transposed"] = base.t()  # strides (1, 3)
    shared = torch.arange(10, dtype=torch.float32) - 4.0
    sd["shared_a"] = shared[2:5]  # storage offset 2
    sd["shared_b"] = shared[5:9].view(2, 2)  # same storage, offset 5
    sd["expanded"] = torch.tensor([7.0]).expand(3)  # stride 0
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 4)
    sd["param"] = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    return sd


def expected_for(tensors, metadata):
    return {
        "tensors": [describe(n, t) for n, t in tensors],
        "metadata": metadata,
    }


def flatten(prefix, tree):
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, torch.Tensor):
            yield name, value
        else:
            yield from flatten(name, value)


# ---- hand-built archives -------------------------------------------------------------------


class StorageRef:
    """Stands for a storage in a hand-written data.pkl (pickled as a persistent id)."""

    def __init__(self, storage_type, key, numel):
        self.storage_type, self.key, self.numel = storage_type, key, numel


class RebuildTensor:
    """Pickles as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False,
                     collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
        return None


def pickle_with_storages(obj, protocol=2):
    buffer = io.BytesIO()
    TorchPickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


def zip_bytes(entries, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = compression
            z.writestr(info, data)
    return buffer.getvalue()


def torch_zip(data_pkl, storages, prefix="archive", extra=()):
    entries = [(f"{prefix}/data.pkl", data_pkl)]
    entries += [(f"{prefix}/data/{key}", data) for key, data in storages.items()]
    entries += [(f"{prefix}/version", b"3\n")]
    entries += list(extra)
    return zip_bytes(entries)


def rezip(data, compression):
    source = zipfile.ZipFile(io.BytesIO(data))
    return zip_bytes([(i.filename, source.read(i)) for i in source.infolist()], compression)


def zip64_bytes(entries):
    """A STORED zip that uses every zip64 structure, as archives over 4 GB must: local and
    central zip64 extra fields with 0xFFFFFFFF markers, a zip64 end record and locator."""
    out = bytearray()
    central = bytearray()
    for name, data in entries:
        name_bytes = name.encode()
        crc = zlib.crc32(data)
        offset = len(out)
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF,
                           0xFFFFFFFF, len(name_bytes), len(local_extra))
        out += name_bytes + local_extra + data
        central_extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(name_bytes), len(central_extra), 0,
                               0, 0, 0, 0xFFFFFFFF)
        central += name_bytes + central_extra
    central_offset = len(out)
    out += central
    zip64_end_offset = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries), len(entries),
                       len(central), central_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, zip64_end_offset, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(out)


# ---- refused checkpoints -----------------------------------------------------------------


class CallsGlobal:
    """Pickles as a call of `function` with `args`; never called here."""

    def __init__(self, function, args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


def malicious_state(function, args):
    return collections.OrderedDict(
        [("weight", torch.tensor([1.0, 2.0])), ("payload", CallsGlobal(function, args))])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "torch"
    parser.add_argument("out_dir", nargs="?", default=str(default_out))
    out_dir = parser.parse_args().out_dir
    os.makedirs(out_dir, exist_ok=True)
    expected = {}

    # Plain state dict, in the zip format, DEFLATE-compressed, zip64 and legacy.
    sd = plain_state_dict()
    plain = torch_save_bytes(sd)
    write(out_dir, "plain.pt", plain)
    write(out_dir, "deflate.pt", rezip(plain, zipfile.ZIP_DEFLATED))
    source = zipfile.ZipFile(io.BytesIO(plain))
    write(out_dir, "zip64.pt", zip64_bytes([(i.filename, source.read(i))
                                            for i in source.infolist()]))
    expected["plain.pt"] = expected_for(sd.items(), {})
    expected["deflate.pt"] = expected["plain.pt"]
    expected["zip64.pt"] = expected["plain.pt"]

    legacy_sd = collections.OrderedDict()
    legacy_sd["weight"] = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).t()
    legacy_sd["half"] = torch.tensor([0.25, -8.0], dtype=torch.float16)
    legacy_shared = torch.arange(8, dtype=torch.int64) * 3
    legacy_sd["ids"] = legacy_shared[1:4]
    legacy_sd["ids_tail"] = legacy_shared[6:]
    legacy_sd["mask"] = torch.tensor([True, False, True])
    write(out_dir, "legacy.pt", torch_save_bytes(legacy_sd, legacy=True))
    expected["legacy.pt"] = expected_for(legacy_sd.items(), {})

    # A Lightning checkpoint: the state dict under "state_dict" plus training state.
    model_sd = collections.OrderedDict()
    model_sd["model.encoder.weight"] = torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    model_sd["model.encoder.bias"] = torch.tensor([-0.5, 0.5], dtype=torch.float16)
    lightning = {
        "epoch": 3,
        "global_step": 10,
        "pytorch-lightning_version": "1.9.0",
        "state_dict": model_sd,
        "hyper_parameters": {"lr": 0.001, "hidden": 8, "name": "tiny", "betas": (0.9, 0.99),
                             "scheduler": None, "use_amp": False},
        "optimizer_states": [{"state": {0: {"step": torch.tensor(4.0),
                                            "exp_avg": torch.tensor([0.25, 0.5])}},
                              "param_groups": [{"lr": 0.001, "params": [0, 1]}]}],
    }
    write(out_dir, "lightning.ckpt", torch_save_bytes(lightning))
    expected["lightning.ckpt"] = expected_for(model_sd.items(), {
        "epoch": 3,
        "global_step": 10,
        "pytorch-lightning_version": "1.9.0",
        "hyper_parameters": {"lr": 0.001, "hidden": 8, "name": "tiny", "betas": [0.9, 0.99],
                             "scheduler": None, "use_amp": False},
        "optimizer_states": [{"state": {"0": {"step": "<tensor f32[]>",
                                              "exp_avg": "<tensor f32[2]>"}},
                              "param_groups": [{"lr": 0.001, "params": [0, 1]}]}],
    })

    # Training scripts' metadata types that are plain data: argparse.Namespace,
    # pathlib paths, numpy scalars, sets and bytes.
    hparams = argparse.Namespace(dataset=[pathlib.PosixPath("/data/voice/train.jsonl")],
                                 sample_rate=np.int64(22050), noise_scale=np.float32(0.667),
                                 speakers={"alice"}, seed=np.int32(-5), tag=b"\x00\xffok")
    extras = {"state_dict": collections.OrderedDict([("w", torch.tensor([1.0, -1.0]))]),
              "hparams": hparams, "best_score": np.float64(0.125)}
    write(out_dir, "extras.ckpt", torch_save_bytes(extras))
    expected["extras.ckpt"] = expected_for([("w", extras["state_dict"]["w"])], {
        "hparams": {"dataset": ["/data/voice/train.jsonl"], "sample_rate": 22050,
                    "noise_scale": float(np.float32(0.667)), "speakers": ["alice"], "seed": -5,
                    "tag": "<bytes 4>"},
        "best_score": 0.125,
    })

    # Nested dicts of tensors (e.g. {"model": state_dict, "iteration": N}).
    nested = {
        "model": {"enc": {"weight": torch.tensor([[1.0, 2.0]]),
                          "bias": torch.tensor([0.5])},
                  "dec.weight": torch.tensor([[-1.0], [2.0]], dtype=torch.float64)},
        "iteration": 7,
        "learning_rate": 0.0002,
    }
    write(out_dir, "nested.pth", torch_save_bytes(nested))
    expected["nested.pth"] = expected_for(list(flatten("", {"model": nested["model"]})),
                                          {"iteration": 7, "learning_rate": 0.0002})

    # A hand-written data.pkl in protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE,
    # STACK_GLOBAL), as pickle writes it for newer protocols.
    p4_storage = StorageRef(torch.FloatStorage, "0", 4)
    p4 = collections.OrderedDict([("a", RebuildTensor(p4_storage, 1, [3], [1])),
                                  ("b", RebuildTensor(p4_storage, 0, [2, 2], [2, 1]))])
    p4_values = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
    write(out_dir, "protocol4.pt",
          torch_zip(pickle_with_storages(p4, protocol=4), {"0": p4_values}, prefix="p4"))
    expected["protocol4.pt"] = expected_for(
        [("a", torch.tensor([2.0, 3.0, 4.0])), ("b", torch.tensor([[1.0, 2.0], [3.0, 4.0]]))],
        {})

    # Checkpoints that must be refused with a clear error.
    def bad_tensor(offset, size, stride, numel=4, data_bytes=16):
        storage = StorageRef(torch.FloatStorage, "0", numel)
        state = collections.OrderedDict([("t", RebuildTensor(storage, offset, size, stride))])
        return torch_zip(pickle_with_storages(state), {"0": bytes(data_bytes)})

    write(out_dir, "bad_offset.pt", bad_tensor(5, [1], [1]))
    write(out_dir, "bad_stride.pt", bad_tensor(0, [2, 2], [3, 1]))
    write(out_dir, "bad_storage_size.pt", bad_tensor(0, [4], [1], numel=4, data_bytes=12))
    write(out_dir, "big_endian.pt",
          torch_zip(pickle_with_storages(collections.OrderedDict()), {},
                    extra=[("archive/byteorder", b"big")]))

    write(out_dir, "malicious_system.pt",
          torch_save_bytes(malicious_state(os.system, (f"touch {MARKER}",))))
    write(out_dir, "malicious_eval.pt",
          torch_save_bytes(malicious_state(eval, (f"open('{MARKER}', 'w')",))))
    # Protocol 4 keeps Python 3 module names (protocol 2 renames subprocess to commands).
    write(out_dir, "malicious_subprocess.pt",
          torch_save_bytes(malicious_state(subprocess.Popen, (["touch", MARKER],)), protocol=4))
    # STACK_GLOBAL (protocol 4) inside an otherwise valid archive.
    stack_state = collections.OrderedDict(
        [("w", RebuildTensor(StorageRef(torch.FloatStorage, "0", 1), 0, [1], [1])),
         ("payload", CallsGlobal(os.system, (f"touch {MARKER}",)))])
    write(out_dir, "malicious_stack_global.pt",
          torch_zip(pickle_with_storages(stack_state, protocol=4), {"0": bytes(4)}))
    # A bare pickle (what an old-style torch.save file starts with).
    write(out_dir, "malicious_raw.pkl",
          pickle.dumps(CallsGlobal(os.system, (f"touch {MARKER}",)), protocol=2))

    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=False)
        f.write("\n")

    # Self-check: the non-malicious fixtures load in torch with the expected values.
    for name, want in expected.items():
        loaded = torch.load(os.path.join(out_dir, name))
        if "state_dict" in loaded:
            loaded = loaded["state_dict"]
        elif name == "nested.pth":
            loaded = {"model": loaded["model"]}
        got = [describe(n, t) for n, t in flatten("", loaded)]
        for g, w in zip(got, want["tensors"]):
            assert g["values"] == w["values"] and g["shape"] == w["shape"], (name, g, w)
        assert len(got) == len(want["tensors"]), name
    assert not os.path.exists(MARKER)
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"wrote {len(os.listdir(out_dir))} files, {total} bytes, to {out_dir}")


if __name__ == "__main__":
    sys.exit(main())
