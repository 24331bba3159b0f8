"""The parts of VITS (jaywalnut310/vits, as piper trains it) that a voice's generator file
holds, with the reference's attribute names, so that VitsGenerator.state_dict() is the
layout mmgen's audio/vits*.cpp loads: enc_p (text encoder with windowed relative-position
attention), dp (the deterministic duration predictor), flow (mean-only residual
couplings) and dec (the HiFi-GAN generator). Weight-normalised convolutions keep the
reference's weight_g / weight_v tensors; mmgen folds them at load time.

Masks follow the reference ([B, 1, T] of ones and zeros), so batches of sentences of
different lengths train together; infer() is mmgen's Vits::infer for one sentence."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import weight_norm

LRELU_SLOPE = 0.1


def sequence_mask(lengths, max_length=None):
    max_length = max_length or int(lengths.max())
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


class LayerNorm(nn.Module):
    """LayerNorm over the channels of [B, C, T] (modules.LayerNorm)."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        x = F.layer_norm(x.transpose(1, -1), (x.size(1),), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


# ---------------------------------------------------------------- text encoder


class MultiHeadAttention(nn.Module):
    """attentions.MultiHeadAttention with relative keys and values within +-window_size,
    the embeddings shared by the heads (heads_share=True, as piper)."""

    def __init__(self, channels, n_heads, window_size=4, p_dropout=0.0):
        super().__init__()
        self.n_heads, self.window_size = n_heads, window_size
        self.k_channels = channels // n_heads
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(p_dropout)
        rel_stddev = self.k_channels ** -0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * rel_stddev)
        self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * rel_stddev)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def forward(self, x, attn_mask):
        b, d, t = x.shape
        q, k, v = (c(x).view(b, self.n_heads, self.k_channels, t).transpose(2, 3)
                   for c in (self.conv_q, self.conv_k, self.conv_v))
        q = q / math.sqrt(self.k_channels)
        scores = torch.matmul(q, k.transpose(-2, -1))
        rel_k = self._relative_embeddings(self.emb_rel_k, t)
        scores = scores + self._relative_to_absolute(torch.matmul(q, rel_k.unsqueeze(0).transpose(-2, -1)))
        scores = scores.masked_fill(attn_mask == 0, -1e4)
        p = self.drop(F.softmax(scores, dim=-1))
        out = torch.matmul(p, v)
        rel_v = self._relative_embeddings(self.emb_rel_v, t)
        out = out + torch.matmul(self._absolute_to_relative(p), rel_v.unsqueeze(0))
        return self.conv_o(out.transpose(2, 3).contiguous().view(b, d, t))

    def _relative_embeddings(self, emb, length):
        """[1, 2w + 1, k] -> [1, 2T - 1, k]: zero beyond the window, cut to the length."""
        pad = max(length - (self.window_size + 1), 0)
        start = max((self.window_size + 1) - length, 0)
        padded = F.pad(emb, (0, 0, pad, pad)) if pad > 0 else emb
        return padded[:, start:start + 2 * length - 1]

    @staticmethod
    def _relative_to_absolute(x):
        """[B, H, T, 2T - 1] -> [B, H, T, T] (the reference's pad-and-reshape)."""
        b, h, t, _ = x.shape
        x = F.pad(x, (0, 1)).view(b, h, t * 2 * t)
        x = F.pad(x, (0, t - 1)).view(b, h, t + 1, 2 * t - 1)
        return x[:, :, :t, t - 1:]

    @staticmethod
    def _absolute_to_relative(x):
        """[B, H, T, T] -> [B, H, T, 2T - 1]."""
        b, h, t, _ = x.shape
        x = F.pad(x, (0, t - 1)).view(b, h, t * t + t * (t - 1))
        x = F.pad(x, (t, 0)).view(b, h, t, 2 * t)
        return x[:, :, :, 1:]


class FFN(nn.Module):
    def __init__(self, channels, filter_channels, kernel_size, p_dropout=0.0):
        super().__init__()
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size, padding=kernel_size // 2)
        self.drop = nn.Dropout(p_dropout)

    def forward(self, x, mask):
        x = self.drop(torch.relu(self.conv_1(x * mask)))
        return self.conv_2(x * mask) * mask


class Encoder(nn.Module):
    """attentions.Encoder: post-norm blocks of relative attention and a conv FFN."""

    def __init__(self, hidden, filter_channels, n_heads, n_layers, kernel_size, p_dropout):
        super().__init__()
        self.attn_layers = nn.ModuleList(
            MultiHeadAttention(hidden, n_heads, 4, p_dropout) for _ in range(n_layers))
        self.norm_layers_1 = nn.ModuleList(LayerNorm(hidden) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(
            FFN(hidden, filter_channels, kernel_size, p_dropout) for _ in range(n_layers))
        self.norm_layers_2 = nn.ModuleList(LayerNorm(hidden) for _ in range(n_layers))
        self.drop = nn.Dropout(p_dropout)

    def forward(self, x, mask):
        attn_mask = mask.unsqueeze(2) * mask.unsqueeze(-1)
        x = x * mask
        for attn, norm_1, ffn, norm_2 in zip(self.attn_layers, self.norm_layers_1,
                                              self.ffn_layers, self.norm_layers_2):
            x = norm_1(x + self.drop(attn(x, attn_mask)))
            x = norm_2(x + self.drop(ffn(x, mask)))
        return x * mask


class TextEncoder(nn.Module):
    """enc_p: ids -> hidden x and the prior's m_p, logs_p (inter channels each)."""

    def __init__(self, n_vocab, inter, hidden, filter_channels, n_heads, n_layers, kernel_size,
                 p_dropout):
        super().__init__()
        self.hidden, self.inter = hidden, inter
        self.emb = nn.Embedding(n_vocab, hidden)
        nn.init.normal_(self.emb.weight, 0.0, hidden ** -0.5)
        self.encoder = Encoder(hidden, filter_channels, n_heads, n_layers, kernel_size, p_dropout)
        self.proj = nn.Conv1d(hidden, 2 * inter, 1)

    def forward(self, ids, lengths):
        x = (self.emb(ids) * math.sqrt(self.hidden)).transpose(1, 2)
        mask = sequence_mask(lengths, ids.size(1)).unsqueeze(1).to(x.dtype)
        x = self.encoder(x, mask)
        m, logs = torch.split(self.proj(x) * mask, self.inter, dim=1)
        return x, m, logs, mask


class DurationPredictor(nn.Module):
    """dp (use_sdp false): log durations from the encoder's (detached) hidden states."""

    def __init__(self, hidden, filter_channels=256, kernel_size=3, p_dropout=0.5):
        super().__init__()
        self.conv_1 = nn.Conv1d(hidden, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_1 = LayerNorm(filter_channels)
        self.conv_2 = nn.Conv1d(filter_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_2 = LayerNorm(filter_channels)
        self.proj = nn.Conv1d(filter_channels, 1, 1)
        self.drop = nn.Dropout(p_dropout)

    def forward(self, x, mask):
        x = self.drop(self.norm_1(torch.relu(self.conv_1(x.detach() * mask))))
        x = self.drop(self.norm_2(torch.relu(self.conv_2(x * mask))))
        return self.proj(x * mask) * mask


# ---------------------------------------------------------------- flow


class WN(nn.Module):
    """The gated WaveNet stack of the couplings (modules.WN), weight-normalised."""

    def __init__(self, hidden, kernel_size, dilation_rate, n_layers, p_dropout=0.0):
        super().__init__()
        self.hidden = hidden
        self.in_layers, self.res_skip_layers = nn.ModuleList(), nn.ModuleList()
        self.drop = nn.Dropout(p_dropout)
        for i in range(n_layers):
            dilation = dilation_rate ** i
            self.in_layers.append(weight_norm(nn.Conv1d(
                hidden, 2 * hidden, kernel_size, dilation=dilation,
                padding=(kernel_size * dilation - dilation) // 2)))
            out = 2 * hidden if i < n_layers - 1 else hidden  # the last layer: skip only
            self.res_skip_layers.append(weight_norm(nn.Conv1d(hidden, out, 1)))

    def forward(self, x, mask):
        output = torch.zeros_like(x)
        for i, (conv_in, conv_res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            a, b = conv_in(x).chunk(2, dim=1)
            res_skip = conv_res_skip(self.drop(torch.tanh(a) * torch.sigmoid(b)))
            if i < len(self.in_layers) - 1:
                x = (x + res_skip[:, :self.hidden]) * mask
                output = output + res_skip[:, self.hidden:]
            else:
                output = output + res_skip
        return output * mask


class ResidualCouplingLayer(nn.Module):
    """Mean-only coupling: x1 += post(WN(pre(x0))); volume preserving (log-det 0)."""

    def __init__(self, channels, hidden, kernel_size, dilation_rate, n_layers):
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WN(hidden, kernel_size, dilation_rate, n_layers)
        self.post = nn.Conv1d(hidden, self.half, 1)
        self.post.weight.data.zero_()  # starts as the identity
        self.post.bias.data.zero_()

    def forward(self, x, mask, reverse=False):
        x0, x1 = torch.split(x, self.half, dim=1)
        m = self.post(self.enc(self.pre(x0) * mask, mask)) * mask
        x1 = (x1 - m) * mask if reverse else (x1 + m) * mask
        return torch.cat([x0, x1], dim=1)


class Flip(nn.Module):
    def forward(self, x, mask, reverse=False):
        return torch.flip(x, [1])


class ResidualCouplingBlock(nn.Module):
    """flow: 4 couplings (flows.0, .2, .4, .6) with channel flips between them."""

    def __init__(self, channels, hidden, kernel_size=5, dilation_rate=1, n_layers=4, n_flows=4):
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(ResidualCouplingLayer(channels, hidden, kernel_size, dilation_rate,
                                                    n_layers))
            self.flows.append(Flip())

    def forward(self, x, mask, reverse=False):
        for flow in (reversed(self.flows) if reverse else self.flows):
            x = flow(x, mask, reverse=reverse)
        return x


# ---------------------------------------------------------------- decoder


class ResBlock1(nn.Module):
    def __init__(self, channels, kernel_size, dilations):
        super().__init__()
        pad = lambda d: (kernel_size * d - d) // 2  # noqa: E731
        self.convs1 = nn.ModuleList(weight_norm(nn.Conv1d(
            channels, channels, kernel_size, dilation=d, padding=pad(d))) for d in dilations)
        self.convs2 = nn.ModuleList(weight_norm(nn.Conv1d(
            channels, channels, kernel_size, padding=pad(1))) for _ in dilations)

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    def __init__(self, channels, kernel_size, dilations):
        super().__init__()
        self.convs = nn.ModuleList(weight_norm(nn.Conv1d(
            channels, channels, kernel_size, dilation=d, padding=(kernel_size * d - d) // 2))
            for d in dilations)

    def forward(self, x):
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x


class Generator(nn.Module):
    """dec: HiFi-GAN's generator as VITS has it (conv_post without bias)."""

    def __init__(self, in_channels, resblock, resblock_kernel_sizes, resblock_dilation_sizes,
                 upsample_rates, upsample_initial_channel, upsample_kernel_sizes):
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(in_channels, upsample_initial_channel, 7, padding=3)
        block = ResBlock1 if str(resblock) == "1" else ResBlock2
        self.ups, self.resblocks = nn.ModuleList(), nn.ModuleList()
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes)):
            up = weight_norm(nn.ConvTranspose1d(upsample_initial_channel >> i,
                                                upsample_initial_channel >> (i + 1), k, u,
                                                padding=(k - u) // 2))
            self.ups.append(up)
        for i in range(len(self.ups)):
            ch = upsample_initial_channel >> (i + 1)
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(ch, k, d))
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3, bias=False)

    def forward(self, x):
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            x = sum(block(x) for block in blocks) / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


# ---------------------------------------------------------------- the generator file


class VitsGenerator(nn.Module):
    """SynthesizerTrn without the posterior encoder and the stochastic duration predictor:
    what a voice file holds. `model` is the "model" block of config.json."""

    def __init__(self, model):
        super().__init__()
        m = model
        self.enc_p = TextEncoder(m["n_vocab"], m["inter_channels"], m["hidden_channels"],
                                 m["filter_channels"], m["n_heads"], m["n_layers"],
                                 m["kernel_size"], m["p_dropout"])
        self.dp = DurationPredictor(m["hidden_channels"], m["dp_filter_channels"], 3, 0.5)
        self.flow = ResidualCouplingBlock(m["inter_channels"], m["hidden_channels"], 5, 1, 4, 4)
        self.dec = Generator(m["inter_channels"], m["resblock"], m["resblock_kernel_sizes"],
                             m["resblock_dilation_sizes"], m["upsample_rates"],
                             m["upsample_initial_channel"], m["upsample_kernel_sizes"])

    @torch.no_grad()
    def infer(self, ids, noise_scale=0.0, length_scale=1.0, generator=None):
        """One sentence [T] of ids -> (wav [samples], durations [T]), as mmgen's Vits::infer
        with the deterministic duration predictor."""
        ids = torch.as_tensor(ids, dtype=torch.long)[None]
        lengths = torch.tensor([ids.size(1)])
        x, m_p, logs_p, mask = self.enc_p(ids, lengths)
        w_ceil = torch.ceil(torch.exp(self.dp(x, mask)) * length_scale)[0, 0]
        path = expand_path(w_ceil.long())
        m_p, logs_p = m_p[0] @ path, logs_p[0] @ path
        z_p = m_p + torch.randn(m_p.shape, generator=generator) * torch.exp(logs_p) * noise_scale
        frame_mask = torch.ones(1, 1, z_p.size(1))
        z = self.flow(z_p[None], frame_mask, reverse=True)
        return self.dec(z)[0, 0], w_ceil.long()


def expand_path(durations):
    """[T] frame counts -> the alignment [T, frames]: frame y belongs to the id whose
    cumulative span holds it (generate_path)."""
    ends = torch.cumsum(durations, 0)
    frames = torch.arange(int(ends[-1]) if len(ends) else 0)
    starts = ends - durations
    return ((frames[None, :] >= starts[:, None]) & (frames[None, :] < ends[:, None])).float()
