"""Training loop, evaluation and checkpoints. Entry point: python/train.py (see its --help)."""
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch

from trans3dhead_ref import safetensors_np, synthetic_flame
from trans3dhead_ref.flame import FlameLayer
from trans3dhead_ref.model import DEFAULT_CONFIG, SMALL_CONFIG, Trans3DHead

from . import metrics as M
from .dataset import DadHeads
from .geometry import SEVEN_OF_68, euler_angles, load_indices, load_landmark_embedding
from .losses import Trans3DHeadLoss

DEFAULTS = {
    "model": "full",
    "data": {"root": None, "train_split": "train", "val_split": "val", "flame": "synthetic:0",
             "flame_landmarks": None, "flame_landmarks_dynamic": None,
             "subsets": {"head": None, "head_z5": None, "face": None},
             "augment": {}, "num_workers": 0},
    "loss": {"weights": {"lmk": 300.0, "3d": 50.0, "reproj": 0.05, "euler": 0.05},
             "deep_supervision": True, "aux_params": False},
    "optim": {"lr": 1e-4, "backbone_lr_factor": 0.1, "weight_decay": 0.0, "batch_size": 32,
              "epochs": 360, "lr_drop_epochs": [240], "lr_drop_factor": 0.1, "grad_clip_norm": None},
    "init": {"imagenet_weights": None, "batchnorm": "train"},
    "out": "runs/trans3dhead", "device": "auto", "threads": None, "seed": 0,
    "log_every": 50, "val_every": 1, "val_max_items": None, "max_steps": None,
}


def merge(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path, overrides=()):
    """JSON config merged over DEFAULTS; relative paths in data/init/out are relative to the
    config file's folder. overrides: "a.b=value" strings (value parsed as JSON when it parses)."""
    with open(path) as f:
        user = json.load(f)
    unknown = set(user) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"{path}: unknown config keys {sorted(unknown)} (known: {sorted(DEFAULTS)})")
    cfg = merge(DEFAULTS, user)
    for o in overrides:
        key, _, val = o.partition("=")
        try:
            val = json.loads(val)
        except json.JSONDecodeError:
            pass
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = val
    base = os.path.dirname(os.path.abspath(path))
    rel = lambda p: p if p is None or os.path.isabs(p) or p.startswith("synthetic:") else os.path.normpath(os.path.join(base, p))
    d = cfg["data"]
    for k in ("root", "flame", "flame_landmarks", "flame_landmarks_dynamic"):
        d[k] = rel(d[k])
    d["subsets"] = {k: rel(v) for k, v in d["subsets"].items()}
    cfg["init"]["imagenet_weights"] = rel(cfg["init"]["imagenet_weights"])
    cfg["out"] = rel(cfg["out"])
    if not d["root"]:
        raise ValueError(f"{path}: data.root is required (the folder holding DAD-3DHeadsDataset/)")
    return cfg


def model_config(cfg):
    m = cfg["model"]
    if m == "full":
        return copy.deepcopy(DEFAULT_CONFIG)
    if m == "small":
        return copy.deepcopy(SMALL_CONFIG)
    if isinstance(m, dict):
        return merge(DEFAULT_CONFIG, m)
    raise ValueError(f"model: 'full', 'small' or a config object, not {m!r}")


def load_flame(d):
    """(canonical FLAME arrays, 68-landmark embedding) from data.flame / data.flame_landmarks*."""
    src = d["flame"]
    if src.startswith("synthetic:"):
        flame = synthetic_flame.generate(int(src.split(":", 1)[1]))
    elif src.endswith(".npz"):
        flame = dict(np.load(src))
        if flame["posedirs"].ndim == 3:  # the published layout
            flame["posedirs"] = flame["posedirs"].reshape(-1, flame["posedirs"].shape[-1]).T
        flame = {k: v for k, v in flame.items()}
        flame.setdefault("faces", flame.get("f"))
        if "parents" not in flame:
            p = flame["kintree_table"][0].astype(np.int64)
            p[p > 1000] = -1
            flame["parents"] = p
    else:
        flame = synthetic_flame.load_published(src)
    emb = load_landmark_embedding(flame["faces"], d["flame_landmarks"], d["flame_landmarks_dynamic"], flame=flame)
    if emb.dyn_idx is not None:  # the FLAME layer's landmarks3d then turn the contour with the head, as the engine's
        flame = dict(flame, lmk_faces_idx=emb.idx, lmk_bary_coords=emb.bary.astype(np.float32),
                     dynamic_lmk_faces_idx=emb.dyn_idx, dynamic_lmk_bary_coords=emb.dyn_bary.astype(np.float32))
    return flame, emb


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_imagenet(model, path):
    """torchvision ResNet-50 ImageNet weights from a local file (never downloaded here)."""
    if model.config["backbone"].get("width", 64) != 64:
        raise ValueError("init.imagenet_weights needs the standard ResNet-50 (backbone width 64)")
    sd = torch.load(path, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    missing, unexpected = model.backbone.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path} is not a torchvision ResNet-50 state dict: missing {missing[:5]}, unexpected {unexpected[:5]}")


def param_groups(model, lr, factor, wd):
    bb = [p for n, p in model.named_parameters() if n.startswith("backbone.") and p.requires_grad]
    rest = [p for n, p in model.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
    return [{"params": rest, "lr": lr, "weight_decay": wd, "name": "heads"},
            {"params": bb, "lr": lr * factor, "weight_decay": wd, "name": "backbone"}]


def set_train_mode(model, batchnorm):
    model.train()
    if batchnorm == "frozen":  # DETR-style: ImageNet statistics and affine kept fixed
        for m in model.backbone.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
                for p in m.parameters():
                    p.requires_grad_(False)


def batches_for_epoch(n, batch_size, seed, epoch):
    """The epoch's batches of indices: a permutation seeded by (seed, epoch), so a resumed
    run sees the same order; the last partial batch dropped when there is a full one."""
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    out = [perm[i:i + batch_size] for i in range(0, n, batch_size)]
    if len(out) > 1 and len(out[-1]) < batch_size:
        out.pop()
    return out


def save_weights(model, out_dir, extra_meta):
    """model.pth ({"state_dict"}: SPEC keys) and model.safetensors (config in the metadata):
    both load with `trans3dhead run --weights`."""
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": sd}, os.path.join(out_dir, "model.pth.tmp"))
    os.replace(os.path.join(out_dir, "model.pth.tmp"), os.path.join(out_dir, "model.pth"))
    arrays = {k: v.float().numpy() for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    meta = {"format": "trans3dhead", "config": json.dumps(model.config)}
    meta.update({k: json.dumps(v) if not isinstance(v, str) else v for k, v in extra_meta.items()})
    safetensors_np.save(os.path.join(out_dir, "model.safetensors.tmp"), arrays, meta)
    os.replace(os.path.join(out_dir, "model.safetensors.tmp"), os.path.join(out_dir, "model.safetensors"))


def evaluate(model, ds, flame_layer, embedding, subsets, device, max_items=None, batch_size=8):
    """Benchmark metrics on a split (original image coordinates): NME, pose error, pose MAE,
    and Z5 / Chamfer when their subsets are given. -> summary dict (metrics.summarize)."""
    from PIL import Image
    was_training = model.training
    model.eval()
    n = len(ds) if max_items is None else min(len(ds), max_items)
    records, attrs, pa, ga = [], [], [], []
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(n)), batch_size=batch_size)
    with torch.no_grad():
        for batch in loader:
            out = model(batch["input"].to(device))
            f = flame_layer(out["params"])
            lm = out["landmarks"].double().cpu().numpy()
            R = f["rotation"].double().cpu().numpy()
            verts = f["vertices"].double().cpu().numpy()
            ang = euler_angles(f["rotation"].double()).cpu().numpy()
            for b, i in enumerate(batch["index"].tolist()):
                k, pl, pt, bx, by = batch["transform"][b].tolist()
                with Image.open(ds.image_path(i)) as im:
                    H = im.size[1]
                gt = ds.gt_image_space(i, H)
                lm_img = (lm[b] - [pl, pt]) / k + [bx, by]
                rec = {"nme": M.nme(lm_img, gt["landmarks"], ds.items[i]["bbox"]),
                       "pose_error": M.pose_error(R[b], gt["rotation"])}
                if subsets.get("head_z5") is not None:
                    rec["z5"] = M.z5(verts[b], gt["world"], subsets["head_z5"])
                if subsets.get("face") is not None:
                    rec["chamfer"] = M.chamfer(verts[b], embedding.points(verts[b])[SEVEN_OF_68], gt["world"],
                                               embedding, subsets["face"])
                records.append(rec)
                attrs.append(ds.items[i].get("attributes"))
                pa.append(ang[b])
                ga.append(euler_angles(torch.from_numpy(gt["rotation"])).numpy())
    res = M.summarize(records, attrs)
    res["overall"].update({f"mae_{k}": v for k, v in M.pose_mae(np.array(pa), np.array(ga)).items()})
    res["count"] = n
    if was_training:
        model.train()
    return res


class Trainer:
    def __init__(self, cfg, log=print):
        self.cfg, self.log = cfg, log
        if cfg["threads"]:
            torch.set_num_threads(int(cfg["threads"]))
        torch.manual_seed(cfg["seed"])
        self.device = resolve_device(cfg["device"])
        d = cfg["data"]
        self.mcfg = model_config(cfg)
        size = self.mcfg["image_size"]
        self.flame, self.embedding = load_flame(d)
        V = len(self.flame["v_template"])
        self.subsets = {k: (load_indices(p, V, k) if p else None) for k, p in d["subsets"].items()}
        if self.subsets.get("head") is None:
            load_indices(None, V, "head")  # raises with what is needed
        self.train_ds = DadHeads(d["root"], d["train_split"], self.embedding, size, augment=d["augment"], seed=cfg["seed"])
        self.val_ds = None
        if d["val_split"]:
            try:
                self.val_ds = DadHeads(d["root"], d["val_split"], self.embedding, size, augment=None)
            except FileNotFoundError as e:
                log(f"no validation split: {e}")
        self.model = Trans3DHead(self.mcfg).to(self.device)
        fl = self.mcfg["flame"]
        self.flame_layer = FlameLayer(self.flame, fl["n_shape"], fl["n_expr"], size).to(self.device)
        for p in self.flame_layer.parameters():
            p.requires_grad_(False)
        L = cfg["loss"]
        self.loss = Trans3DHeadLoss(self.flame_layer, self.subsets["head"], size, L["weights"],
                                    deep_supervision=L["deep_supervision"], aux_params=L["aux_params"]).to(self.device)
        o = cfg["optim"]
        set_train_mode(self.model, cfg["init"]["batchnorm"])
        self.opt = torch.optim.Adam(param_groups(self.model, o["lr"], o["backbone_lr_factor"], o["weight_decay"]), lr=o["lr"])
        self.sched = torch.optim.lr_scheduler.MultiStepLR(self.opt, o["lr_drop_epochs"], o["lr_drop_factor"])
        self.epoch, self.batch_in_epoch, self.step = 0, 0, 0
        os.makedirs(cfg["out"], exist_ok=True)

    def init_weights(self):
        """New run: ImageNet backbone when given, avg_face from the training set (eq. 4)."""
        if self.cfg["init"]["imagenet_weights"]:
            load_imagenet(self.model, self.cfg["init"]["imagenet_weights"])
            self.log(f"backbone from {self.cfg['init']['imagenet_weights']}")
        t0 = time.time()
        avg = torch.from_numpy(self.train_ds.mean_landmarks())
        self.model.landmark_branch.avg_face.copy_(avg.to(self.device))
        self.log(f"avg_face from {len(self.train_ds)} training items ({time.time() - t0:.1f} s)")

    def state(self):
        return {"state_dict": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "step": self.step, "config": self.cfg, "model_config": self.mcfg}

    def save(self):
        out = self.cfg["out"]
        torch.save(self.state(), os.path.join(out, "last.pth.tmp"))
        os.replace(os.path.join(out, "last.pth.tmp"), os.path.join(out, "last.pth"))
        save_weights(self.model, out, {"epoch": self.epoch, "step": self.step,
                                       "data": os.path.basename(os.path.normpath(self.cfg["data"]["root"]))})

    def resume(self, path):
        s = torch.load(path, map_location=self.device)
        if s.get("model_config") != self.mcfg:
            raise ValueError(f"{path} was trained with model config {s.get('model_config')}, this config has {self.mcfg}")
        self.model.load_state_dict(s["state_dict"])
        self.opt.load_state_dict(s["optimizer"])
        self.sched.load_state_dict(s["scheduler"])
        self.epoch, self.batch_in_epoch, self.step = s["epoch"], s["batch_in_epoch"], s["step"]
        self.log(f"resumed {path}: epoch {self.epoch}, batch {self.batch_in_epoch}, step {self.step}")

    def train_step(self, batch):
        batch = {k: (v.to(self.device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        out = self.model(batch["input"])
        total, terms = self.loss(self.model, out, batch)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        if self.cfg["optim"]["grad_clip_norm"]:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg["optim"]["grad_clip_norm"])
        self.opt.step()
        return float(total), {k: float(v) for k, v in terms.items()}

    def fit(self):
        cfg, o = self.cfg, self.cfg["optim"]
        logf = open(os.path.join(cfg["out"], "log.jsonl"), "a")
        nw = cfg["data"]["num_workers"]
        t_last, n_last = time.time(), 0
        try:
            while self.epoch < o["epochs"]:
                self.train_ds.set_epoch(self.epoch)
                batches = batches_for_epoch(len(self.train_ds), o["batch_size"], cfg["seed"], self.epoch)
                loader = torch.utils.data.DataLoader(self.train_ds, batch_sampler=batches[self.batch_in_epoch:],
                                                     num_workers=nw, persistent_workers=False)
                for batch in loader:
                    total, terms = self.train_step(batch)
                    self.step += 1
                    self.batch_in_epoch += 1
                    n_last += len(batch["index"])
                    if not math.isfinite(total):
                        raise FloatingPointError(f"loss is {total} at step {self.step}: {terms}")
                    if self.step % cfg["log_every"] == 0 or self.step == 1:
                        dt = time.time() - t_last
                        lrs = [g["lr"] for g in self.opt.param_groups]
                        rec = {"epoch": self.epoch, "step": self.step, "loss": total, **terms,
                               "lr": lrs[0], "lr_backbone": lrs[1], "items_per_s": n_last / max(dt, 1e-9)}
                        self.log(f"epoch {self.epoch} step {self.step} loss {total:.4f} | " +
                                 " ".join(f"{k} {v:.4g}" for k, v in terms.items()) +
                                 f" | lr {lrs[0]:.2e}/{lrs[1]:.2e} | {rec['items_per_s']:.1f} img/s")
                        logf.write(json.dumps(rec) + "\n")
                        logf.flush()
                        t_last, n_last = time.time(), 0
                    if cfg["max_steps"] and self.step >= cfg["max_steps"]:
                        self.save()
                        self.log(f"stopped at max_steps {cfg['max_steps']}; saved to {cfg['out']}")
                        return
                self.epoch += 1
                self.batch_in_epoch = 0
                self.sched.step()
                self.save()
                if self.val_ds is not None and cfg["val_every"] and self.epoch % cfg["val_every"] == 0:
                    res = evaluate(self.model, self.val_ds, self.flame_layer, self.embedding, self.subsets,
                                   self.device, cfg["val_max_items"])
                    self.log(f"val epoch {self.epoch}: " + " ".join(f"{k} {v:.4g}" for k, v in res["overall"].items()))
                    logf.write(json.dumps({"epoch": self.epoch, "step": self.step, "val": res}) + "\n")
                    logf.flush()
        finally:
            logf.close()


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="train.py", description="Train Trans3DHead on data in the DAD-3DHeads format "
                                 "(python/README.md, 'Training').")
    ap.add_argument("--config", required=True, help="JSON config (python/configs/*.json)")
    ap.add_argument("--resume", help="a last.pth to continue from (default: <out>/last.pth when --resume auto)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set optim.batch_size=16 --set device=cpu")
    ap.add_argument("--eval-only", action="store_true", help="evaluate <out>/last.pth (or --resume) on the val split")
    a = ap.parse_args(argv)
    cfg = load_config(a.config, a.set)
    log = lambda s: print(s, flush=True)
    tr = Trainer(cfg, log)
    resume = a.resume
    if resume == "auto":
        resume = os.path.join(cfg["out"], "last.pth")
        resume = resume if os.path.exists(resume) else None
    if resume:
        tr.resume(resume)
    elif not a.eval_only:
        tr.init_weights()
    log(f"device {tr.device}, {len(tr.train_ds)} training items, model {json.dumps(tr.mcfg)}")
    if a.eval_only:
        if tr.val_ds is None:
            raise SystemExit("no validation split to evaluate")
        res = evaluate(tr.model, tr.val_ds, tr.flame_layer, tr.embedding, tr.subsets, tr.device, cfg["val_max_items"])
        print(json.dumps(res, indent=1))
        return
    tr.fit()


if __name__ == "__main__":
    sys.exit(main())
