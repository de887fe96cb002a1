"""Matterport-style training targets (mrcnn/model.py build_rpn_targets, detection_targets_graph), numpy.

Everything is in matterport's normalized coordinates (norm_boxes); IoU and box deltas are invariant under
that per-axis scaling, so the targets equal matterport's pixel-space ones.
"""
import numpy as np

RPN_STD = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
BBOX_STD = np.array([0.1, 0.1, 0.2, 0.2], np.float32)


def iou_matrix(a, b):
    """a [n,4], b [m,4] (y1,x1,y2,x2) -> [n,m] IoU (float32)."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    y1 = np.maximum(a[:, None, 0], b[None, :, 0])
    x1 = np.maximum(a[:, None, 1], b[None, :, 1])
    y2 = np.minimum(a[:, None, 2], b[None, :, 2])
    x2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.maximum(y2 - y1, 0) * np.maximum(x2 - x1, 0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0).astype(np.float32)


def box_refinement(box, gt):
    """utils.box_refinement: deltas (dy, dx, log dh, log dw) of gt relative to box."""
    h = box[:, 2] - box[:, 0]
    w = box[:, 3] - box[:, 1]
    cy = box[:, 0] + 0.5 * h
    cx = box[:, 1] + 0.5 * w
    gh = gt[:, 2] - gt[:, 0]
    gw = gt[:, 3] - gt[:, 1]
    gcy = gt[:, 0] + 0.5 * gh
    gcx = gt[:, 1] + 0.5 * gw
    return np.stack([(gcy - cy) / h, (gcx - cx) / w, np.log(gh / h), np.log(gw / w)], 1).astype(np.float32)


def rpn_targets(anchors, gt_boxes, rng, per_image=256, pos_iou=0.7, neg_iou=0.3):
    """build_rpn_targets: match [A] in {1, -1, 0}, bbox [A,4] deltas / RPN_STD for positives (0 elsewhere)."""
    A = anchors.shape[0]
    match = np.zeros(A, np.int8)
    bbox = np.zeros((A, 4), np.float32)
    if gt_boxes.shape[0] == 0:
        neg = rng.choice(A, per_image, replace=False)
        match[neg] = -1
        return match, bbox
    ov = iou_matrix(anchors, gt_boxes)
    arg = ov.argmax(1)
    mx = ov[np.arange(A), arg]
    match[mx < neg_iou] = -1
    gt_best = np.argwhere(ov == ov.max(0, keepdims=True))[:, 0]   # every GT's best anchor(s) is positive
    match[gt_best] = 1
    match[mx >= pos_iou] = 1
    pos = np.nonzero(match == 1)[0]
    extra = len(pos) - per_image // 2
    if extra > 0:
        match[rng.choice(pos, extra, replace=False)] = 0
    pos = np.nonzero(match == 1)[0]
    neg = np.nonzero(match == -1)[0]
    extra = len(neg) - (per_image - len(pos))
    if extra > 0:
        match[rng.choice(neg, extra, replace=False)] = 0
    bbox[pos] = box_refinement(anchors[pos], gt_boxes[arg[pos]]) / RPN_STD
    return match, bbox


def nms(boxes, scores, max_out, thr):
    """Greedy NMS (IoU > thr suppresses), scores descending; returns kept indices. IoU is computed lazily,
    one kept box against the boxes still alive."""
    order = np.argsort(-scores, kind='stable')
    b = boxes[order].astype(np.float32)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    alive = np.ones(len(order), bool)
    keep = []
    i = 0
    n = len(order)
    while i < n and len(keep) < max_out:
        keep.append(i)
        alive[i] = False
        rest = np.nonzero(alive)[0]
        if len(rest) == 0:
            break
        yy1 = np.maximum(b[i, 0], b[rest, 0])
        xx1 = np.maximum(b[i, 1], b[rest, 1])
        yy2 = np.minimum(b[i, 2], b[rest, 2])
        xx2 = np.minimum(b[i, 3], b[rest, 3])
        inter = np.maximum(yy2 - yy1, 0) * np.maximum(xx2 - xx1, 0)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        alive[rest[iou > thr]] = False
        nxt = np.nonzero(alive)[0]
        if len(nxt) == 0:
            break
        i = nxt[0]
    return order[np.array(keep, np.int64)] if keep else np.zeros(0, np.int64)


def apply_deltas(boxes, d):
    h = boxes[:, 2] - boxes[:, 0]
    w = boxes[:, 3] - boxes[:, 1]
    cy = boxes[:, 0] + 0.5 * h + d[:, 0] * h
    cx = boxes[:, 1] + 0.5 * w + d[:, 1] * w
    h = h * np.exp(np.clip(d[:, 2], -10, 10))
    w = w * np.exp(np.clip(d[:, 3], -10, 10))
    y1 = cy - 0.5 * h
    x1 = cx - 0.5 * w
    return np.stack([y1, x1, y1 + h, x1 + w], 1).astype(np.float32)


def proposals(probs, deltas, anchors, pre_nms=2000, post_nms=500, thr=0.7):
    """ProposalLayer (training counts): top pre_nms by score, refine, clip to [0,1], NMS."""
    k = min(pre_nms, len(probs))
    ix = np.argpartition(-probs, k - 1)[:k]
    b = apply_deltas(anchors[ix], deltas[ix] * RPN_STD)
    b = np.clip(b, 0.0, 1.0)
    ok = ((b[:, 2] - b[:, 0]) > 0) & ((b[:, 3] - b[:, 1]) > 0)
    b, s = b[ok], probs[ix][ok]
    keep = nms(b, s, post_nms, thr)
    return b[keep]


def detection_targets(props, gt_boxes, rng, rois_per_image=200, pos_ratio=0.33, add_gt=True):
    """detection_targets_graph: sample ROIs (33% positive at IoU >= 0.5), class ids, deltas / BBOX_STD and the
    index of each positive's GT. add_gt=True also offers the GT boxes as proposals (as Detectron does;
    matterport does not) so that the heads see positives while the RPN is still untrained."""
    if add_gt and len(gt_boxes):
        props = np.concatenate([props, gt_boxes], 0)
    if len(gt_boxes) == 0:
        n = min(rois_per_image, len(props))
        neg = rng.choice(len(props), n, replace=False)
        return props[neg], np.zeros(n, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    ov = iou_matrix(props, gt_boxes)
    mx = ov.max(1)
    arg = ov.argmax(1)
    pos = np.nonzero(mx >= 0.5)[0]
    neg = np.nonzero(mx < 0.5)[0]
    pcount = int(rois_per_image * pos_ratio)
    if len(pos) > pcount:
        pos = rng.choice(pos, pcount, replace=False)
    ncount = int(len(pos) / pos_ratio) - len(pos) if len(pos) else rois_per_image // 2
    if len(neg) > ncount:
        neg = rng.choice(neg, ncount, replace=False)
    rois = np.concatenate([props[pos], props[neg]], 0)
    cls = np.concatenate([np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)])
    deltas = box_refinement(props[pos], gt_boxes[arg[pos]]) / BBOX_STD
    return rois.astype(np.float32), cls, deltas, arg[pos]
