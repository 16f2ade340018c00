# SRGAN's validation loop after `volatile=True` was dropped: the MSE metric summed into a dict of results keeps each batch's graph, so GPU memory explodes during validation (https://github.com/leftthomas/SRGAN/issues/43).
#@ expect: leak
import torch
import torch.nn as nn

netG = nn.Sequential(nn.Linear(48, 96), nn.ReLU(), nn.Linear(96, 192)).cuda()
val_loader = [(torch.randn(1, 48), torch.randn(1, 192)) for _ in range(4)]

netG.eval()
valing_results = {'mse': 0, 'psnr': 0, 'batch_sizes': 0}
for val_lr, val_hr in val_loader:
    batch_size = val_lr.size(0)
    valing_results['batch_sizes'] += batch_size
    lr = val_lr
    hr = val_hr
    if torch.cuda.is_available():
        lr = lr.cuda()
        hr = hr.cuda()
    sr = netG(lr)

    batch_mse = ((sr - hr) ** 2).mean()
    valing_results['mse'] += batch_mse * batch_size
print('[validation] mse: %.4f' % (valing_results['mse'] / valing_results['batch_sizes']))
