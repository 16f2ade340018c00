# A forward hook defined in __init__ that calls `self` makes every module a reference cycle: the models made in the loop stay on the device until the cyclic collector runs (https://github.com/pytorch/pytorch/issues/46386).
#@ expect: leak reference-cycle
import gc
import torch
import torch.nn as nn


class LeakyModule(nn.Module):
    def __init__(self):
        super(LeakyModule, self).__init__()
        self.resnet = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256))

        def fw_hook(m, m_in, m_out):
            self(m_in)

        self.register_forward_hook(fw_hook)


for i in range(4):
    net = LeakyModule()
    net.to('cuda:0')
    print(f"{i}: {torch.cuda.memory_allocated() / 1024 ** 2:.2f} MiB allocated")
