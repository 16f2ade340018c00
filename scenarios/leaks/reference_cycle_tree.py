# A tree of intermediate results whose children point back at their parent: each step's tree is a reference cycle, so it stays on the device after the step drops it, until the cyclic collector runs.
#@ expect: leak reference-cycle
import torch


class Node:
    def __init__(self, value, parent=None):
        self.value = value
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


for step in range(6):
    tree = Node(torch.randn(64, 64, device="cuda"))
    Node(tree.value.relu(), tree)
    tree = None  # fix: tree.children.clear() before dropping it, or gc.collect() after
