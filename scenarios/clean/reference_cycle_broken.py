# The tree of intermediate results with its cycle broken before the step drops it: reference counting frees every node at once, no collector needed.
#@ expect: clean
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
    tree.children.clear()
    tree = None
