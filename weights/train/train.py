#!/usr/bin/python3
"""Train one FPF variant (issue #6). PyTorch (Debian torch 1.13), CPU.

The network is the reference's (weights/reference/fpf_ref.py FPFModel: towers, RPN, box and mask heads), so
what is trained here is exactly what the C kit runs after export (weights/train/export.py -> .fpf).
BatchNorm is frozen as matterport's TRAIN_BN=False: moving statistics are fixed (set once, data-dependent, at
initialization because there is no ImageNet start), gamma/beta are trained.

    # stage 1: the nucleus model;  stage 2: cell models on its frozen nucleus tower
    /usr/bin/python3 weights/train/train.py --variant cores --out build/train/cores
    /usr/bin/python3 weights/train/train.py --variant fpf_add --weighted --nucleus build/train/cores/ckpt.pt \
        --out build/train/fpf_add_weighted
    ... --resume   continues from OUT/ckpt.pt (same arguments)

See weights/train/README.md for the schedule, the configuration and every deviation from the paper.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'weights', 'reference'))
sys.path.insert(0, HERE)

import fpf_ref  # noqa: E402
import seeded  # noqa: E402
import data as D  # noqa: E402
import targets as T  # noqa: E402
import fastops  # noqa: E402

LOSS_WEIGHTS = dict(rpn_class=1.0, rpn_bbox=2.0, mrcnn_class=1.0, mrcnn_bbox=2.0, mrcnn_mask=2.0)


# ----------------------------------------------------------------------------- model set-up
def build_model(cfg, variant):
    return fpf_ref.FPFModel(cfg, variant)


def init_weights(model, seed):
    """He-uniform kernels, zero biases, BN gamma 1 / beta 0 (gamma 0 on each residual branch's last BN, so
    blocks start as identities), small output layers."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, fpf_ref.KConv):
            fan_in = m.weight.shape[1] * m.k * m.k
            a = (6.0 / fan_in) ** 0.5
            m.weight.data.uniform_(-a, a, generator=g)
            m.bias.data.zero_()
        elif isinstance(m, fpf_ref.KDense):
            fan_in = m.weight.shape[0]
            a = (6.0 / fan_in) ** 0.5
            m.weight.data.uniform_(-a, a, generator=g)
            m.bias.data.zero_()
        elif isinstance(m, fpf_ref.KBN):
            m.gamma.data.fill_(0.0 if '_branch2c' in m.kname else 1.0)
            m.beta.data.zero_()
    mk = model.mask
    a = (6.0 / mk.m) ** 0.5
    mk.deconv_w.data.uniform_(-a, a, generator=g)
    mk.deconv_b.data.zero_()
    for lay in (model.rpn.cls, model.rpn.bbox, model.mask.out):
        lay.weight.data.mul_(0.1)
    for lay in (model.box.logits, model.box.bbox):
        lay.weight.data.mul_(0.1)


class BNInit:
    """Data-dependent BN statistics: a forward pre-hook sets each not-yet-initialized KBN's moving mean /
    variance to its input's per-channel mean / variance, in forward order (one pass initializes all)."""

    def __init__(self, model, skip=()):
        self.handles = []
        self.done = set()
        for m in model.modules():
            if isinstance(m, fpf_ref.KBN) and not any(m is s for s in skip):
                self.handles.append(m.register_forward_pre_hook(self.hook))

    def hook(self, m, inp):
        if id(m) in self.done:
            return
        x = inp[0].detach()
        dims = [d for d in range(x.dim()) if d != m.cdim]
        m.moving_mean.data.copy_(x.mean(dims))
        m.moving_variance.data.copy_(x.var(dims, unbiased=False).clamp_min(1e-4))
        self.done.add(id(m))

    def remove(self):
        for h in self.handles:
            h.remove()


# ----------------------------------------------------------------------------- differentiable RoIAlign
def crop_resize_t(fm, boxes, P):
    """tf.image.crop_and_resize (bilinear, extrapolation 0) on fm [D,H,W] (differentiable in fm) for
    normalized boxes [n,4] (numpy float32) -> [n,P,P,D]. Same sample positions as fpf_ref.crop_and_resize."""
    Dd, H, W = fm.shape
    b = torch.from_numpy(np.asarray(boxes, np.float32))
    hm1, wm1 = float(H - 1), float(W - 1)
    g = torch.arange(P, dtype=torch.float32)
    ys = (b[:, 0] * hm1)[:, None] + g[None] * ((b[:, 2] - b[:, 0]) * hm1 / (P - 1))[:, None]
    xs = (b[:, 1] * wm1)[:, None] + g[None] * ((b[:, 3] - b[:, 1]) * wm1 / (P - 1))[:, None]
    vy = (ys >= 0) & (ys <= hm1)
    vx = (xs >= 0) & (xs <= wm1)
    ys = torch.where(vy, ys, torch.zeros_like(ys))
    xs = torch.where(vx, xs, torch.zeros_like(xs))
    t, bo = ys.floor().long(), ys.ceil().long()
    l, r = xs.floor().long(), xs.ceil().long()
    ly = (ys - t.float())[None, :, :, None]
    lx = (xs - l.float())[None, :, None, :]
    T_, B_ = t[:, :, None], bo[:, :, None]
    L_, R_ = l[:, None, :], r[:, None, :]
    tl, tr, bl, br = fm[:, T_, L_], fm[:, T_, R_], fm[:, B_, L_], fm[:, B_, R_]   # [D,n,P,P]
    top = tl + (tr - tl) * lx
    bot = bl + (br - bl) * lx
    out = top + (bot - top) * ly
    valid = (vy[:, :, None] & vx[:, None, :])[None].float()
    return (out * valid).permute(1, 2, 3, 0)


def roi_align_t(feats, boxes, P, image_area):
    """PyramidROIAlign: feats = [F2..F5] NCHW (batch 1) tensors -> [n,P,P,D] in box order."""
    lv = fpf_ref.roi_levels(boxes, image_area)
    n = len(boxes)
    Dd = feats[0].shape[1]
    parts, order = [], []
    for k in (2, 3, 4, 5):
        idx = np.nonzero(lv == k)[0]
        if len(idx):
            parts.append(crop_resize_t(feats[k - 2][0], boxes[idx], P))
            order.append(idx)
    if not parts:
        return torch.zeros(0, P, P, Dd)
    out = torch.cat(parts, 0)
    inv = np.empty(n, np.int64)
    inv[np.concatenate(order)] = np.arange(n)
    return out[torch.from_numpy(inv)]


# ----------------------------------------------------------------------------- one training step
def mold_t(a):
    return torch.from_numpy(((a - np.float32(112.5)) / np.float32(255.0)).astype(np.float32)).permute(2, 0, 1)[None]


def smooth_l1(x, y):
    d = (x - y).abs()
    return torch.where(d < 1.0, 0.5 * d * d, d - 0.5)


_anchor_cache = {}


def anchors_for(H, W):
    if (H, W) not in _anchor_cache:
        _anchor_cache[(H, W)] = fpf_ref.anchors_for(H, W)
    return _anchor_cache[(H, W)]


def forward_losses(model, s, rng, args):
    inp = s['inputs']
    H, W = inp[0].shape[:2]
    assert H % 64 == 0 and W % 64 == 0
    x = mold_t(inp[0])
    xc = mold_t(inp[1]) if model.fpf else None
    pyr = model.forward_pyramid(x, xc)
    feats = pyr['F']
    logits, bbox = model.rpn(feats)
    logits, bbox = logits[0], bbox[0]
    anchors = anchors_for(H, W)
    gt = s['boxes']
    match, rbbox = T.rpn_targets(anchors, gt, rng)
    L = {}
    act = np.nonzero(match != 0)[0]
    tgt = torch.from_numpy((match[act] == 1).astype(np.int64))
    L['rpn_class'] = F.cross_entropy(logits[torch.from_numpy(act)], tgt)
    pos = np.nonzero(match == 1)[0]
    if len(pos):
        L['rpn_bbox'] = smooth_l1(bbox[torch.from_numpy(pos)], torch.from_numpy(rbbox[pos])).mean()
    else:
        L['rpn_bbox'] = bbox.sum() * 0
    with torch.no_grad():
        probs = torch.softmax(logits, -1)[:, 1].numpy()
    props = T.proposals(probs, bbox.detach().numpy(), anchors, args.pre_nms, args.post_nms)
    rois, cls, deltas, gidx = T.detection_targets(props, gt, rng, args.train_rois, 0.33)
    area = H * W
    pooled = roi_align_t(feats[:4], rois, 7, area)
    cl, bb = model.box(pooled)
    L['mrcnn_class'] = F.cross_entropy(cl, torch.from_numpy(cls))
    npos = len(gidx)
    if npos:
        mix = np.arange(npos)
        if args.mask_rois and npos > args.mask_rois:      # CPU budget: the mask loss on a random subset
            mix = np.sort(rng.choice(npos, args.mask_rois, replace=False))
        L['mrcnn_bbox'] = smooth_l1(bb[:npos, 1], torch.from_numpy(deltas)).mean()
        prois = rois[mix]
        mt = np.zeros((len(mix), 28, 28), np.float32)
        wt = np.ones((len(mix), 28, 28), np.float32)
        for j in range(len(mix)):
            m = s['masks'][gidx[mix[j]]].astype(np.float32)[:, :, None]
            mt[j] = np.round(fpf_ref.crop_and_resize(m, prois[j:j + 1], 28)[0, :, :, 0])
            if s['weight'] is not None:
                wt[j] = fpf_ref.crop_and_resize(s['weight'][:, :, None], prois[j:j + 1], 28)[0, :, :, 0]
        mpool = roi_align_t(feats[:4], prois, 14, area)
        ml = model.mask(mpool)[..., 1]
        bce = F.binary_cross_entropy_with_logits(ml, torch.from_numpy(mt), reduction='none')
        L['mrcnn_mask'] = (bce * torch.from_numpy(wt)).mean()
    else:
        L['mrcnn_bbox'] = bb.sum() * 0
        L['mrcnn_mask'] = sum(p.sum() for p in model.mask.parameters()) * 0
    total = sum(LOSS_WEIGHTS[k] * v for k, v in L.items())
    return total, {k: float(v) for k, v in L.items()}, npos


# ----------------------------------------------------------------------------- main
def lr_at(it, args):
    if it < args.warmup:
        return args.lr * (0.1 + 0.9 * it / args.warmup)
    if it >= int(args.iters * args.decay_at):
        return args.lr * 0.1
    return args.lr


def save_ckpt(path, model, opt, it, rng, hist, args):
    tmp = path + '.tmp'
    torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), it=it, rng=rng.get_state(),
                    torch_rng=torch.get_rng_state(), hist=hist, args=vars(args), variant=model.variant,
                    cfg=model.cfg), tmp)
    os.replace(tmp, path)


def load_model_from_ckpt(path):
    ck = torch.load(path)
    m = build_model(ck['cfg'], ck['variant'])
    m.load_state_dict(ck['model'])
    return m, ck


def load_trained(path, cfg, variant, flag):
    """A trained model of `variant` from a checkpoint or a shipped .fpf (unfold.py gives raw tensors that
    export to the same .fpf bit for bit); another variant is refused in one line naming the option."""
    if path.endswith('.fpf'):
        import unfold
        got, _, raw = unfold.unfold(path)
        m = build_model(cfg, variant).load_raw(raw) if got == variant else None
    else:
        m = load_model_from_ckpt(path)[0]
        got = m.variant
    if got != variant:
        raise SystemExit('%s %s: a %s model, expected %s' % (flag, path, got, variant))
    return m


def load_nucleus(path, cfg):
    """--nucleus: the trained nucleus model whose tower an FPF model freezes."""
    return load_trained(path, cfg, 'cores', '--nucleus')


def load_init(path, cfg, variant):
    """--init: the trained model a fine-tuning starts from, of the same variant (its BN statistics come with
    it; an FPF model's nucleus tower is then replaced by --nucleus)."""
    return load_trained(path, cfg, variant, '--init')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    ap.add_argument('--variant', required=True, choices=seeded.VARIANTS)
    ap.add_argument('--config', default='tiny', help='network widths: tiny (default, the CPU config), small (twice tiny) or paper')
    ap.add_argument('--weighted', action='store_true', help="paper's border-weighted mask loss")
    ap.add_argument('--aug', default='basic', choices=D.AUGS + ('contrast',),
                    help='augmentation: basic (flips, rotations, contrast 0.85..1.15) or strong (+ zoom, gamma, gain, '
                    'noise); with --real the cores model always gets the real-data augmentation, and contrast adds '
                    'a gain per nucleus and uneven illumination (real.uneven_contrast)')
    ap.add_argument('--nucleus', help='trained cores checkpoint or .fpf (FPF variants: its tower, frozen)')
    ap.add_argument('--init', help='fine-tune: start from this trained model of the same variant (checkpoint or '
                                   '.fpf) instead of a fresh initialization; with --nucleus, an FPF model gets that tower')
    ap.add_argument('--out', required=True)
    ap.add_argument('--resume', action='store_true')
    ap.add_argument('--iters', type=int, default=3000)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--warmup', type=int, default=100)
    ap.add_argument('--decay-at', type=float, default=0.75)
    ap.add_argument('--clip', type=float, default=5.0)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--data', default=os.path.join(ROOT, 'build', 'train_data', 's384'))
    ap.add_argument('--count', type=int, default=400, help='scenes to generate if --data is missing')
    ap.add_argument('--size', type=int, default=384, help='scene size to generate if --data is missing')
    ap.add_argument('--pre-nms', type=int, default=2000)
    ap.add_argument('--post-nms', type=int, default=500)
    ap.add_argument('--train-rois', type=int, default=200)
    ap.add_argument('--mask-rois', type=int, default=24,
                    help='positive ROIs per image that get the mask loss (random subset; 0 = all, as matterport)')
    ap.add_argument('--ckpt-every', type=int, default=50)
    ap.add_argument('--log-every', type=int, default=10)
    # issue #12: real data (weights/train/real.py) and the dense-field configuration stored in the exported .fpf
    ap.add_argument('--real', help='dsb2018_train_fluo folder: cores trains on its train split, the cell '
                                   'variants on semi-synthetic fields around its nuclei mixed with --data')
    ap.add_argument('--semi', type=float, default=0.5, help='--real cell variants: share of semi-synthetic fields')
    ap.add_argument('--crop', type=int, default=256, help='--real: training crop (multiple of 64)')
    ap.add_argument('--anchor-scales', type=lambda v: [float(x) for x in v.split(',')],
                    help='five anchor sizes on P2..P6 (default 32,64,128,256,512)')
    ap.add_argument('--infer-post-nms', type=int, help='post_nms_rois of the exported model (default 500)')
    ap.add_argument('--infer-max-dets', type=int, help='det_max_instances of the exported model (default 200)')
    ap.add_argument('--keep-every', type=int, default=0, help='also keep OUT/ckpt_ITER.pt every N iterations '
                                                              '(model choice on the validation split)')
    args = ap.parse_args(argv)
    if args.anchor_scales:
        if len(args.anchor_scales) != 5:
            ap.error('--anchor-scales needs 5 values')
        fpf_ref.ANCHOR_SCALES = tuple(args.anchor_scales)
    if args.aug == 'contrast' and not (args.real and args.variant == 'cores'):
        ap.error('--aug contrast is for the cores model on --real data')
    args.fpf_config = {k: v for k, v in (('anchor_scales', args.anchor_scales), ('post_nms_rois', args.infer_post_nms),
                                         ('det_max_instances', args.infer_max_dets)) if v}
    torch.set_num_threads(args.threads)
    fastops.apply()
    os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, 'ckpt.pt')
    logf = open(os.path.join(args.out, 'train.log'), 'a')

    def log(msg):
        line = time.strftime('%H:%M:%S ') + msg
        print(line, flush=True)
        logf.write(line + '\n')
        logf.flush()

    data = None
    if not (args.real and (args.variant == 'cores' or args.semi >= 1)):
        D.generate(args.data, args.count, args.size)
        data = D.load_set(args.data, args.data.rstrip('/') + '.npz')
    if args.real:
        import real

    def sampler_for(rng_, aug):
        if args.real:
            return real.make_sampler(args, args.variant, rng_, data)
        return D.Sampler(data, args.variant, rng_, args.weighted, aug)
    rng = np.random.RandomState(args.seed)
    torch.manual_seed(args.seed)
    cfg = seeded.CONFIGS[args.config]
    model = build_model(cfg, args.variant)
    if model.fpf and not args.nucleus:
        ap.error('FPF variants need --nucleus CORES_CKPT')
    hist = []
    it0 = 0
    if args.resume and os.path.exists(ckpt):
        ck = torch.load(ckpt)
        model.load_state_dict(ck['model'])
        it0 = ck['it']
        hist = ck['hist']
        rng.set_state(ck['rng'])
        torch.set_rng_state(ck['torch_rng'])
        log('resumed %s at iteration %d' % (args.out, it0))
    else:
        if args.init:
            model.load_state_dict(load_init(args.init, cfg, args.variant).state_dict())
        else:
            init_weights(model, args.seed)
        skip = []
        if model.fpf:
            core_model = load_nucleus(args.nucleus, cfg)
            model.core.load_state_dict(core_model.tower.state_dict())
            skip = [m for m in model.core.modules() if isinstance(m, fpf_ref.KBN)]
        if not args.init:
            sampler0 = sampler_for(np.random.RandomState(args.seed + 1000), 'basic')
            hook = BNInit(model, skip)
            with torch.no_grad():
                forward_losses(model, sampler0.get(), np.random.RandomState(0), args)
            hook.remove()
        log('initialized %s (%s, %s%s), %s' %
            (args.variant, args.config, 'weighted' if args.weighted else 'unweighted',
             ', nucleus tower from ' + args.nucleus if model.fpf else '',
             'weights and BN statistics from ' + args.init if args.init else 'BN statistics from data'))
    if model.fpf:
        for p in model.core.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr)
    if args.resume and os.path.exists(ckpt):
        opt.load_state_dict(ck['opt'])
    log('%d trainable parameters, %d iterations, lr %g, threads %d' %
        (sum(p.numel() for p in params), args.iters, args.lr, args.threads))
    sampler = sampler_for(rng, args.aug)
    acc, t0, last_ck = {}, time.time(), time.time()
    it = it0
    while it < args.iters:
        for gq in opt.param_groups:
            gq['lr'] = lr_at(it, args)
        s = sampler.get()
        total, parts, npos = forward_losses(model, s, rng, args)
        opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, args.clip)
        opt.step()
        it += 1
        parts['total'] = float(total)
        for k, v in parts.items():
            acc.setdefault(k, []).append(v)
        if it % args.log_every == 0:
            avg = {k: float(np.mean(v)) for k, v in acc.items()}
            hist.append(dict(it=it, time=time.time(), **avg))
            log('it %5d  %s  %.2f s/it' % (it, ' '.join('%s %.4f' % (k, avg[k]) for k in
                                                       ('total', 'rpn_class', 'rpn_bbox', 'mrcnn_class',
                                                        'mrcnn_bbox', 'mrcnn_mask')),
                                           (time.time() - t0) / args.log_every))
            acc, t0 = {}, time.time()
        if it % args.ckpt_every == 0 or it == args.iters or time.time() - last_ck > 300:
            save_ckpt(ckpt, model, opt, it, rng, hist, args)
            last_ck = time.time()
        if args.keep_every and it % args.keep_every == 0:
            save_ckpt(os.path.join(args.out, 'ckpt_%06d.pt' % it), model, opt, it, rng, hist, args)
    save_ckpt(ckpt, model, opt, it, rng, hist, args)
    with open(os.path.join(args.out, 'done.json'), 'w') as f:
        json.dump(dict(it=it, args=vars(args), final=hist[-1] if hist else None), f, indent=1)
    log('done')


if __name__ == '__main__':
    main()
