"""Stable Diffusion 1.x networks in PyTorch with the diffusers / transformers tensor names.

The module attributes are named like diffusers' UNet2DConditionModel and AutoencoderKL and
transformers' CLIPTextModel, so state_dict() is directly the layout of a diffusers folder
that mmgen (and diffusers) load. Only what SD 1.x uses is here: 2D convolutions, GroupNorm
ResNet blocks, SpatialTransformers with 1x1 conv projections and GEGLU, the VAE mid-block
attention and CLIP's causal text transformer with quick_gelu.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- shared blocks


# Training may run under bf16 autocast (train_shapes_sd.py --precision), which computes the
# products in bf16 but leaves normalisations, GELU and softmax to the module: these compute
# them in f32 (a no-op for f32 inputs), so only the products lose precision.


class GroupNorm(nn.GroupNorm):
    def forward(self, x):
        return F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps)


class LayerNorm(nn.LayerNorm):
    def forward(self, x):
        return F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps)


def softmax(x):
    return torch.softmax(x.float(), dim=-1)


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb=None, eps=1e-5):
        super().__init__()
        self.norm1 = GroupNorm(32, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb is not None:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = GroupNorm(32, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if hasattr(self, "conv_shortcut") else x) + h


class Downsample2D(nn.Module):
    def __init__(self, channels, pad_right_bottom):
        super().__init__()
        # The VAE pads (0, 1, 0, 1) and convolves without padding; the UNet pads 1.
        self.pad_right_bottom = pad_right_bottom
        self.conv = nn.Conv2d(channels, channels, 3, stride=2,
                              padding=0 if pad_right_bottom else 1)

    def forward(self, x):
        if self.pad_right_bottom:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Attention(nn.Module):
    """diffusers Attention: to_q/to_k/to_v (bias as given), to_out.0 with bias."""

    def __init__(self, dim, heads, context_dim=None, bias=False):
        super().__init__()
        context_dim = context_dim or dim
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(context_dim, dim, bias=bias)
        self.to_v = nn.Linear(context_dim, dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x, context=None):
        context = x if context is None else context
        b, n, d = x.shape
        h = self.heads

        def split(t):
            return t.reshape(t.shape[0], -1, h, d // h).transpose(1, 2)

        q = split(self.to_q(x) * (d // h) ** -0.5)
        k, v = split(self.to_k(context)), split(self.to_v(context))
        if k.shape[0] != b:
            # Training draws several noisy pictures per caption: the captions' keys and
            # values are computed once and broadcast over the repeats (batch = repeats x
            # captions, repeat-major), which is the same product as repeating the context.
            q = q.reshape(b // k.shape[0], k.shape[0], *q.shape[1:])
            k, v = k[None], v[None]
        w = softmax(q @ k.transpose(-1, -2))
        out = (w @ v).reshape(b, h, n, d // h)
        return self.to_out[0](out.transpose(1, 2).reshape(b, n, d))


# ---------------------------------------------------------------- UNet


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate.float())


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Identity(), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        for layer in self.net:
            x = layer(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, context_dim):
        super().__init__()
        self.norm1 = LayerNorm(dim)
        self.attn1 = Attention(dim, heads)
        self.norm2 = LayerNorm(dim)
        self.attn2 = Attention(dim, heads, context_dim)
        self.norm3 = LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, context):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    def __init__(self, channels, heads, context_dim):
        super().__init__()
        self.norm = GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(channels, heads, context_dim)])
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x, context):
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x)).reshape(b, c, h * w).transpose(1, 2)
        for block in self.transformer_blocks:
            y = block(y, context)
        return x + self.proj_out(y.transpose(1, 2).reshape(b, c, h, w))


class CrossAttnDownBlock2D(nn.Module):
    """CrossAttnDownBlock2D, or DownBlock2D (the same without attentions) when heads is 0."""

    def __init__(self, cin, cout, layers, temb, heads, context_dim, downsample):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(cin if j == 0 else cout, cout, temb) for j in range(layers)])
        self.attentions = nn.ModuleList(
            [Transformer2DModel(cout, heads, context_dim) for _ in range(layers if heads else 0)])
        if downsample:
            self.downsamplers = nn.ModuleList([Downsample2D(cout, pad_right_bottom=False)])

    def forward(self, x, temb, context, skips):
        for j, resnet in enumerate(self.resnets):
            x = resnet(x, temb)
            if self.attentions:
                x = self.attentions[j](x, context)
            skips.append(x)
        if hasattr(self, "downsamplers"):
            x = self.downsamplers[0](x)
            skips.append(x)
        return x


class CrossAttnUpBlock2D(nn.Module):
    """CrossAttnUpBlock2D, or UpBlock2D (the same without attentions) when heads is 0."""

    def __init__(self, cin, cout, prev, layers, temb, heads, context_dim, upsample):
        super().__init__()
        self.resnets = nn.ModuleList()
        for j in range(layers):
            skip = cin if j == layers - 1 else cout
            self.resnets.append(ResnetBlock2D((prev if j == 0 else cout) + skip, cout, temb))
        self.attentions = nn.ModuleList(
            [Transformer2DModel(cout, heads, context_dim) for _ in range(layers if heads else 0)])
        if upsample:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])

    def forward(self, x, temb, context, skips):
        for j, resnet in enumerate(self.resnets):
            x = resnet(torch.cat([x, skips.pop()], dim=1), temb)
            if self.attentions:
                x = self.attentions[j](x, context)
        if hasattr(self, "upsamplers"):
            x = self.upsamplers[0](x)
        return x


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, channels, temb, heads, context_dim):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, temb) for _ in range(2)])
        self.attentions = nn.ModuleList([Transformer2DModel(channels, heads, context_dim)])

    def forward(self, x, temb, context):
        x = self.resnets[0](x, temb)
        return self.resnets[1](self.attentions[0](x, context), temb)


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


def timestep_features(t, dim):
    """[cos, sin] sinusoidal features (diffusers flip_sin_to_cos=True, freq_shift 0 = ldm)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class UNet2DConditionModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        widths = config["block_out_channels"]
        layers = config["layers_per_block"]
        heads = config["attention_head_dim"]
        context = config["cross_attention_dim"]
        temb = 4 * widths[0]
        self.model_channels = widths[0]
        self.conv_in = nn.Conv2d(config["in_channels"], widths[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(widths[0], temb)
        self.down_blocks = nn.ModuleList()
        for i, width in enumerate(widths):
            attend = config["down_block_types"][i].startswith("CrossAttn")
            self.down_blocks.append(CrossAttnDownBlock2D(
                widths[max(i - 1, 0)], width, layers, temb, heads if attend else 0, context,
                downsample=i < len(widths) - 1))
        self.mid_block = UNetMidBlock2DCrossAttn(widths[-1], temb, heads, context)
        rev = list(reversed(widths))
        self.up_blocks = nn.ModuleList()
        for i, width in enumerate(rev):
            attend = config["up_block_types"][i].startswith("CrossAttn")
            self.up_blocks.append(CrossAttnUpBlock2D(
                rev[min(i + 1, len(rev) - 1)], width, rev[max(i - 1, 0)], layers + 1, temb,
                heads if attend else 0, context, upsample=i < len(rev) - 1))
        self.conv_norm_out = GroupNorm(32, widths[0], eps=1e-5)
        self.conv_out = nn.Conv2d(widths[0], config["out_channels"], 3, padding=1)

    def forward(self, x, t, context):
        temb = self.time_embedding(timestep_features(t, self.model_channels))
        x = self.conv_in(x)
        skips = [x]
        for block in self.down_blocks:
            x = block(x, temb, context, skips)
        x = self.mid_block(x, temb, context)
        for block in self.up_blocks:
            x = block(x, temb, context, skips)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


# ---------------------------------------------------------------- VAE


class VaeAttention(nn.Module):
    """The single-head mid-block attention of the VAE (diffusers Attention with group_norm)."""

    def __init__(self, channels):
        super().__init__()
        self.group_norm = GroupNorm(32, channels, eps=1e-6)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.group_norm(x).reshape(b, c, h * w).transpose(1, 2)
        q, k, v = self.to_q(y), self.to_k(y), self.to_v(y)
        a = softmax(q @ k.transpose(1, 2) / math.sqrt(c)) @ v
        return x + self.to_out[0](a).transpose(1, 2).reshape(b, c, h, w)


class VaeMidBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, eps=1e-6)
                                      for _ in range(2)])
        self.attentions = nn.ModuleList([VaeAttention(channels)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class DownEncoderBlock2D(nn.Module):
    def __init__(self, cin, cout, layers, downsample):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(cin if j == 0 else cout, cout, eps=1e-6) for j in range(layers)])
        if downsample:
            self.downsamplers = nn.ModuleList([Downsample2D(cout, pad_right_bottom=True)])

    def forward(self, x):
        for resnet in self.resnets:
            x = resnet(x)
        return self.downsamplers[0](x) if hasattr(self, "downsamplers") else x


class UpDecoderBlock2D(nn.Module):
    def __init__(self, cin, cout, layers, upsample):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(cin if j == 0 else cout, cout, eps=1e-6) for j in range(layers)])
        if upsample:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])

    def forward(self, x):
        for resnet in self.resnets:
            x = resnet(x)
        return self.upsamplers[0](x) if hasattr(self, "upsamplers") else x


class Encoder(nn.Module):
    def __init__(self, widths, layers, latent):
        super().__init__()
        self.conv_in = nn.Conv2d(3, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(
            [DownEncoderBlock2D(widths[max(i - 1, 0)], w, layers, i < len(widths) - 1)
             for i, w in enumerate(widths)])
        self.mid_block = VaeMidBlock(widths[-1])
        self.conv_norm_out = GroupNorm(32, widths[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(widths[-1], 2 * latent, 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for block in self.down_blocks:
            x = block(x)
        return self.conv_out(F.silu(self.conv_norm_out(self.mid_block(x))))


class Decoder(nn.Module):
    def __init__(self, widths, layers, latent):
        super().__init__()
        rev = list(reversed(widths))
        self.conv_in = nn.Conv2d(latent, rev[0], 3, padding=1)
        self.mid_block = VaeMidBlock(rev[0])
        self.up_blocks = nn.ModuleList(
            [UpDecoderBlock2D(rev[max(i - 1, 0)], w, layers + 1, i < len(rev) - 1)
             for i, w in enumerate(rev)])
        self.conv_norm_out = GroupNorm(32, widths[0], eps=1e-6)
        self.conv_out = nn.Conv2d(widths[0], 3, 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for block in self.up_blocks:
            x = block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, config):
        super().__init__()
        widths, layers, latent = (config["block_out_channels"], config["layers_per_block"],
                                  config["latent_channels"])
        self.encoder = Encoder(widths, layers, latent)
        self.decoder = Decoder(widths, layers, latent)
        self.quant_conv = nn.Conv2d(2 * latent, 2 * latent, 1)
        self.post_quant_conv = nn.Conv2d(latent, latent, 1)

    def moments(self, x):
        """Mean and log-variance of the latent distribution of images in [-1, 1]."""
        return self.quant_conv(self.encoder(x)).chunk(2, dim=1)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ---------------------------------------------------------------- CLIP text encoder


class CLIPAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        b, n, d = x.shape
        h = self.heads

        def split(t):
            return t.reshape(b, n, h, d // h).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        w = softmax(q @ k.transpose(-1, -2) / math.sqrt(d // h) + mask)
        return self.out_proj((w @ v).transpose(1, 2).reshape(b, n, d))


class CLIPMLP(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.fc1 = nn.Linear(dim, inner)
        self.fc2 = nn.Linear(inner, dim)

    def forward(self, x):
        x = self.fc1(x)
        return self.fc2(x * torch.sigmoid(1.702 * x))  # quick_gelu


class CLIPEncoderLayer(nn.Module):
    def __init__(self, dim, heads, inner):
        super().__init__()
        self.self_attn = CLIPAttention(dim, heads)
        self.layer_norm1 = LayerNorm(dim)
        self.mlp = CLIPMLP(dim, inner)
        self.layer_norm2 = LayerNorm(dim)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEmbeddings(nn.Module):
    def __init__(self, vocab, positions, dim):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.position_embedding = nn.Embedding(positions, dim)


class CLIPEncoder(nn.Module):
    def __init__(self, dim, heads, inner, count):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(dim, heads, inner) for _ in range(count)])


class CLIPTextTransformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        dim = config["hidden_size"]
        self.embeddings = CLIPEmbeddings(config["vocab_size"], config["max_position_embeddings"],
                                         dim)
        self.encoder = CLIPEncoder(dim, config["num_attention_heads"],
                                   config["intermediate_size"], config["num_hidden_layers"])
        self.final_layer_norm = LayerNorm(dim)

    def forward(self, ids):
        n = ids.shape[1]
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding.weight[:n]
        mask = torch.full((n, n), float("-inf")).triu(1)
        for layer in self.encoder.layers:
            x = layer(x, mask)
        return self.final_layer_norm(x)


class CLIPTextModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.text_model = CLIPTextTransformer(config)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, ids):
        return self.text_model(ids)
