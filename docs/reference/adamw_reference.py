"""torch.optim.AdamW numbers for SharpLens' AdamW test (tests/SharpLens.Tests/Training/AdamWTests.cs).
usage: /usr/bin/python3 docs/reference/adamw_reference.py > fixtures/training/adamw_torch.json
Five fp32 updates of a 7-element tensor with per-step gradients and learning rates (weight decay 0.01, torch defaults
otherwise); records the inputs and the parameter after every step."""
import json
import torch

torch.manual_seed(0)
p0 = torch.randn(7) * 0.5
grads = [torch.randn(7) * s for s in (1.0, 0.1, 3.0, 1e-3, 0.5)]
lrs = [3e-3, 1e-2, 5e-4, 3e-3, 2e-2]
p = p0.clone().requires_grad_()
opt = torch.optim.AdamW([p], lr=lrs[0], weight_decay=0.01)
after = []
for g, lr in zip(grads, lrs):
    for gp in opt.param_groups:
        gp["lr"] = lr
    p.grad = g.clone()
    opt.step()
    after.append(p.detach().tolist())
print(json.dumps({"torch": torch.__version__, "weight_decay": 0.01, "p0": p0.tolist(), "grads": [g.tolist() for g in grads],
                  "lrs": lrs, "after": after}, indent=1))
