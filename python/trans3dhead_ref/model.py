"""Trans3DHead as a PyTorch module whose state_dict keys are exactly SPEC.md section 8's.

Backbone (ResNet, sec. 2) -> input_proj -> memory tokens + sine positions -> two DETR
post-norm decoders (sec. 3): the 3DMM branch (413 queries, sec. 4) and the landmark branch
(68 queries with MQinit, QAMem and MARR, sec. 5)."""
import math

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.resnet import Bottleneck

DEFAULT_CONFIG = {
    "image_size": 256, "backbone": {"depth": 50, "width": 64}, "d_model": 256, "nhead": 8,
    "dim_feedforward": 2048, "num_layers": 2, "num_params": 413, "num_landmarks": 68,
    "flame": {"n_shape": 300, "n_expr": 100},
}
SMALL_CONFIG = {
    "image_size": 256, "backbone": {"depth": 50, "width": 8}, "d_model": 32, "nhead": 4,
    "dim_feedforward": 64, "num_layers": 2, "num_params": 413, "num_landmarks": 68,
    "flame": {"n_shape": 300, "n_expr": 100},
}
RESNET_BLOCKS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


def build_backbone(depth=50, width=64):
    """torchvision ResNet (v1.5: stride on the 3x3 conv) without avgpool/fc.

    For the standard width we take torchvision's own resnet50(); for other stem widths we
    rebuild the stem and stages with torchvision's `_make_layer` and `Bottleneck`, planes
    width*{1,2,4,8}, so module names (and so state_dict keys) are identical."""
    blocks = RESNET_BLOCKS[depth]
    if depth == 50 and width == 64:
        net = torchvision.models.resnet50()
    else:
        net = torchvision.models.resnet.ResNet(Bottleneck, blocks)
        if width != 64:
            net.inplanes = width
            net.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
            net.bn1 = nn.BatchNorm2d(width)
            net.layer1 = net._make_layer(Bottleneck, width, blocks[0])
            net.layer2 = net._make_layer(Bottleneck, width * 2, blocks[1], stride=2)
            net.layer3 = net._make_layer(Bottleneck, width * 4, blocks[2], stride=2)
            net.layer4 = net._make_layer(Bottleneck, width * 8, blocks[3], stride=2)
    del net.avgpool, net.fc  # keep them out of the state dict
    return net


def backbone_forward(net, x):
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


def sine_position_embedding(h, w, d, temperature=10000.0):
    """DETR PositionEmbeddingSine(d/2, normalize=True, scale=2*pi), no mask -> (h*w, d).

    Written with DETR's float32 ops in DETR's order so the rounding is the same."""
    npf = d // 2
    scale = 2 * math.pi
    eps = 1e-6
    not_mask = torch.ones(1, h, w)
    y_embed = not_mask.cumsum(1, dtype=torch.float32)
    x_embed = not_mask.cumsum(2, dtype=torch.float32)
    y_embed = y_embed / (y_embed[:, -1:, :] + eps) * scale
    x_embed = x_embed / (x_embed[:, :, -1:] + eps) * scale
    dim_t = torch.arange(npf, dtype=torch.float32)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / npf)
    pos_x = x_embed[:, :, :, None] / dim_t
    pos_y = y_embed[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos = torch.cat((pos_y, pos_x), dim=3)  # (1, h, w, d), y channels first
    return pos.reshape(h * w, d)


class QAMemAttention(nn.MultiheadAttention):
    """Multi-head attention with QAMem (SPEC sec. 5): a per-query 1x1 grouped conv on the
    concatenated heads, between the attention and out_proj. Written out from the packed
    in_proj weights because nn.MultiheadAttention has no hook at that point."""

    def __init__(self, d, nhead, num_queries):
        super().__init__(d, nhead, batch_first=True)
        self.num_queries = num_queries
        self.qamem = nn.Conv1d(num_queries * d, num_queries * d, 1, groups=num_queries)

    def forward(self, query, key, value, need_weights=False, **unused):
        b, n, d = query.shape
        h, dh = self.num_heads, d // self.num_heads
        wq, wk, wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)
        q = F.linear(query, wq, bq).view(b, n, h, dh).transpose(1, 2)   # (b, h, n, dh)
        k = F.linear(key, wk, bk).view(b, -1, h, dh).transpose(1, 2)    # (b, h, s, dh)
        v = F.linear(value, wv, bv).view(b, -1, h, dh).transpose(1, 2)
        attn = torch.softmax((q / math.sqrt(dh)) @ k.transpose(-2, -1), dim=-1)
        o = (attn @ v).transpose(1, 2).reshape(b, n, d)  # heads concatenated, head-major
        # Query i's d channels are group i of the conv: channel index i*d + c.
        o = self.qamem(o.reshape(b, n * d, 1)).reshape(b, n, d)
        return self.out_proj(o), None


class DecoderLayer(nn.Module):
    """DETR post-norm decoder layer (SPEC sec. 3); no dropout (inference only)."""

    def __init__(self, d, nhead, dim_ff, qamem_queries=None):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, nhead, batch_first=True)
        if qamem_queries:
            self.cross_attn = QAMemAttention(d, nhead, qamem_queries)
        else:
            self.cross_attn = nn.MultiheadAttention(d, nhead, batch_first=True)
        self.linear1 = nn.Linear(d, dim_ff)
        self.linear2 = nn.Linear(dim_ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.norm3 = nn.LayerNorm(d)

    def forward(self, tgt, memory, pos, query_pos):
        q = k = tgt + query_pos
        tgt = self.norm1(tgt + self.self_attn(q, k, value=tgt, need_weights=False)[0])
        tgt2 = self.cross_attn(query=tgt + query_pos, key=memory + pos, value=memory,
                               need_weights=False)[0]
        tgt = self.norm2(tgt + tgt2)
        tgt = self.norm3(tgt + self.linear2(F.relu(self.linear1(tgt))))
        return tgt


class MLP(nn.Module):
    """DETR's MLP: Linear layers with ReLU between (keys layers.{0,1,2})."""

    def __init__(self, dims):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class ParamsBranch(nn.Module):
    """3DMM branch (SPEC sec. 4): zero tgt, learnt query_pos, shared Linear(d, 1) head."""

    def __init__(self, c):
        super().__init__()
        d = c["d_model"]
        self.query_embed = nn.Embedding(c["num_params"], d)
        self.layers = nn.ModuleList(DecoderLayer(d, c["nhead"], c["dim_feedforward"])
                                    for _ in range(c["num_layers"]))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 1)

    def forward(self, memory, pos):
        b = memory.shape[0]
        query_pos = self.query_embed.weight.unsqueeze(0).expand(b, -1, -1)
        tgt = torch.zeros_like(query_pos)
        outs = []
        for layer in self.layers:
            tgt = layer(tgt, memory, pos, query_pos)
            outs.append(self.norm(tgt))  # DETR return_intermediate
        outs = torch.stack(outs)  # (L, B, N, d)
        return outs, self.head(outs[-1]).squeeze(-1)


class LandmarkBranch(nn.Module):
    """Landmark branch (SPEC sec. 5): MQinit, QAMem in every cross_attn, MARR."""

    def __init__(self, c):
        super().__init__()
        d, n = c["d_model"], c["num_landmarks"]
        self.d, self.n = d, n
        self.query_embed = nn.Embedding(n, d)
        self.query_init = nn.Linear(d, n * d)
        self.layers = nn.ModuleList(DecoderLayer(d, c["nhead"], c["dim_feedforward"], qamem_queries=n)
                                    for _ in range(c["num_layers"]))
        self.norm = nn.LayerNorm(d)
        self.residual_heads = nn.ModuleList(MLP([d, d, d, 2]) for _ in range(c["num_layers"]))
        self.register_buffer("avg_face", torch.zeros(n, 2))

    def forward(self, memory, pos):
        b = memory.shape[0]
        query_pos = self.query_embed.weight.unsqueeze(0).expand(b, -1, -1)
        tgt = self.query_init(memory.mean(dim=1)).view(b, self.n, self.d)  # MQinit
        outs = []
        for layer in self.layers:
            tgt = layer(tgt, memory, pos, query_pos)
            outs.append(self.norm(tgt))
        outs = torch.stack(outs)
        landmarks_norm = self.avg_face
        for head, out in zip(self.residual_heads, outs):
            landmarks_norm = landmarks_norm + head(out)  # MARR: residuals summed over layers
        return outs, landmarks_norm


class Trans3DHead(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        c = dict(DEFAULT_CONFIG if config is None else config)
        self.config = c
        bb = c["backbone"]
        self.backbone = build_backbone(bb.get("depth", 50), bb.get("width", 64))
        c5_channels = bb.get("width", 64) * 8 * Bottleneck.expansion
        self.input_proj = nn.Conv2d(c5_channels, c["d_model"], kernel_size=1)
        self.params_branch = ParamsBranch(c)
        self.landmark_branch = LandmarkBranch(c)

    def forward(self, x):
        """x: (B, 3, 256, 256) normalised input (SPEC sec. 1)."""
        c5 = backbone_forward(self.backbone, x)
        m = self.input_proj(c5)
        b, d, h, w = m.shape
        memory = m.flatten(2).transpose(1, 2)  # (B, S, d), token y*W + x
        pos = sine_position_embedding(h, w, d).to(memory)
        params_out, params = self.params_branch(memory, pos)
        landmark_out, landmarks_norm = self.landmark_branch(memory, pos)
        return {
            "c5": c5, "memory": memory, "pos": pos,
            "params": params, "params_out": params_out,
            "landmark_out": landmark_out,
            "landmarks": landmarks_norm * self.config["image_size"],  # crop pixels (x, y)
        }


def spec_state_dict_keys(config):
    """SPEC.md section 8's canonical key list, expanded for a config (for the self-test)."""
    depth = config["backbone"].get("depth", 50)
    keys = ["backbone.conv1.weight"] + [f"backbone.bn1.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
    bn = ("weight", "bias", "running_mean", "running_var")
    for s, nb in enumerate(RESNET_BLOCKS[depth], start=1):
        for i in range(nb):
            pre = f"backbone.layer{s}.{i}"
            for j in (1, 2, 3):
                keys.append(f"{pre}.conv{j}.weight")
                keys += [f"{pre}.bn{j}.{p}" for p in bn]
            if i == 0:
                keys.append(f"{pre}.downsample.0.weight")
                keys += [f"{pre}.downsample.1.{p}" for p in bn]
    keys += ["input_proj.weight", "input_proj.bias"]
    attn = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")
    for branch in ("params_branch", "landmark_branch"):
        keys.append(f"{branch}.query_embed.weight")
        if branch == "landmark_branch":
            keys += ["landmark_branch.query_init.weight", "landmark_branch.query_init.bias"]
        for l in range(config["num_layers"]):
            pre = f"{branch}.layers.{l}"
            keys += [f"{pre}.self_attn.{p}" for p in attn] + [f"{pre}.cross_attn.{p}" for p in attn]
            if branch == "landmark_branch":
                keys += [f"{pre}.cross_attn.qamem.weight", f"{pre}.cross_attn.qamem.bias"]
            keys += [f"{pre}.{m}.{p}" for m in ("linear1", "linear2", "norm1", "norm2", "norm3")
                     for p in ("weight", "bias")]
        keys += [f"{branch}.norm.weight", f"{branch}.norm.bias"]
        if branch == "params_branch":
            keys += ["params_branch.head.weight", "params_branch.head.bias"]
    for l in range(config["num_layers"]):
        keys += [f"landmark_branch.residual_heads.{l}.layers.{j}.{p}" for j in range(3) for p in ("weight", "bias")]
    keys.append("landmark_branch.avg_face")
    return keys
