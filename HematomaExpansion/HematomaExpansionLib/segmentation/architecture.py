"""The segmentation network's architecture: a compact 2.5D attention U-Net (background / IPH / IVH).

Input: three HU planes per axial slice (below, centre, above; ``net.prepare_slices``), windowed inside
the network (``Windowing``): blood window 0..100 HU on the three planes, wide window −50..250 HU on the
centre plane (bone and calcification stay visible). Additive attention gates (Oktay et al. 2018) on the
skip connections.
"""

from __future__ import annotations


def build_model(base: int = 8, levels: int = 5):
    import torch

    nn = torch.nn
    F = torch.nn.functional

    class Windowing(nn.Module):
        """HU planes [B, 3, H, W] (below, centre, above) → 4 windowed channels in 0..1."""

        def forward(self, hu):
            blood = torch.clamp(hu / 100.0, 0.0, 1.0)
            wide = torch.clamp((hu[:, 1:2] + 50.0) / 300.0, 0.0, 1.0)
            return torch.cat([blood, wide], 1)

    class ConvBlock(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        def forward(self, x):
            return self.body(x)

    class AttentionGate(nn.Module):
        """Additive attention (Oktay et al. 2018): the decoder signal gates the skip features."""

        def __init__(self, c_skip, c_gate, c_mid):
            super().__init__()
            self.wx = nn.Conv2d(c_skip, c_mid, 1, bias=False)
            self.wg = nn.Conv2d(c_gate, c_mid, 1, bias=True)
            self.psi = nn.Conv2d(c_mid, 1, 1, bias=True)

        def forward(self, x, g):
            a = torch.sigmoid(self.psi(F.relu(self.wx(x) + self.wg(g))))
            return x * a

    class AttentionUNet2p5D(nn.Module):
        def __init__(self):
            super().__init__()
            ch = [base * 2 ** i for i in range(levels)]
            self.window = Windowing()
            self.enc = nn.ModuleList()
            cin = 4
            for c in ch:
                self.enc.append(ConvBlock(cin, c))
                cin = c
            self.up = nn.ModuleList()
            self.att = nn.ModuleList()
            self.dec = nn.ModuleList()
            for i in range(levels - 1, 0, -1):
                self.up.append(nn.ConvTranspose2d(ch[i], ch[i - 1], 2, stride=2))
                self.att.append(AttentionGate(ch[i - 1], ch[i - 1], max(8, ch[i - 1] // 2)))
                self.dec.append(ConvBlock(2 * ch[i - 1], ch[i - 1]))
            self.head = nn.Conv2d(ch[0], 3, 1)

        def forward(self, hu):
            x = self.window(hu)
            skips = []
            for i, blk in enumerate(self.enc):
                x = blk(x)
                if i < len(self.enc) - 1:
                    skips.append(x)
                    x = F.max_pool2d(x, 2)
            for up, att, dec in zip(self.up, self.att, self.dec):
                x = up(x)
                s = skips.pop()
                x = dec(torch.cat([att(s, x), x], 1))
            return self.head(x)

    return AttentionUNet2p5D()
