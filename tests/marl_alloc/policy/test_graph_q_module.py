"""The GAT level policy: message passing, topology independence, masks, exported attention."""

import pytest
import torch

from envs import VectorDatacenterEnv
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy import build_policy_spec
from marl_alloc.policy.graph_q_net import GraphQNet
from marl_alloc.policy.level_q_module import ACTION_ATTENTION, Q_VALUES

CHILD, CONTEXT = 8, 13


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return GraphQNet(CHILD, CONTEXT, extra_actions=1, embed_dim=16, heads=2).eval()


def _obs(batch: int, children: int) -> torch.Tensor:
    return torch.randn(batch, children * CHILD + CONTEXT)


def test_q_values_and_attention_have_one_entry_per_action(net):
    q, attention = net(_obs(5, 6))
    assert q.shape == attention.shape == (5, 7)
    # Softmax over the parent's in-edges: children plus its self loop (the defer action).
    assert torch.allclose(attention.sum(-1), torch.ones(5), atol=1e-5)
    assert (attention >= 0).all()


def test_one_trained_net_runs_on_any_number_of_children(net):
    for children in (2, 4, 16):
        q, _ = net(_obs(3, children))
        assert q.shape == (3, children + 1)


def test_children_are_scored_by_shared_weights(net):
    obs = _obs(1, 5)
    blocks = obs[:, : 5 * CHILD].reshape(1, 5, CHILD)
    order = torch.tensor([3, 0, 4, 1, 2])
    permuted = torch.cat([blocks[:, order].reshape(1, -1), obs[:, 5 * CHILD :]], dim=-1)
    q, _ = net(obs)
    q_perm, _ = net(permuted)
    assert torch.allclose(q_perm[0, :5], q[0, order], atol=1e-5)
    assert torch.allclose(q_perm[0, 5], q[0, 5], atol=1e-5)


def test_siblings_exchange_messages(net):
    obs = _obs(1, 4)
    changed = obs.clone()
    changed[0, 3 * CHILD : 4 * CHILD] += 5.0  # only child 3's features move
    q, _ = net(obs)
    q_changed, _ = net(changed)
    # Child 0's score depends on child 3 through the attention layer (and the shared mean).
    assert not torch.allclose(q[0, 0], q_changed[0, 0])


@pytest.fixture(scope="module")
def policy():
    settings = compose_settings(["model.policy.encoder=gat", "env.num_envs_per_actor=8"])
    env = VectorDatacenterEnv(settings.env, num_envs=8, seed=3)
    module = build_policy_spec(env.obs_dims, env.num_actions, settings.model.policy).build()
    return env, module


def test_masked_actions_are_never_chosen_greedy_or_exploring(policy):
    env, module = policy
    level_obs = env.reset(seed=3)
    for _ in range(60):
        mask = torch.from_numpy(level_obs.action_mask)
        batch = {C.OBS: torch.from_numpy(level_obs.obs), C.ACTION_MASK: mask}
        with torch.no_grad():
            greedy = module[level_obs.level].forward_inference(batch)[C.ACTIONS]
            explore = module[level_obs.level].forward_exploration(batch, epsilon=1.0)[C.ACTIONS]
        rows = torch.arange(len(mask))
        assert mask[rows, greedy].all() and mask[rows, explore].all()
        level_obs = env.step(explore.numpy()).next


def test_attention_for_priorities_comes_with_q_values(policy):
    env, module = policy
    level_obs = env.reset(seed=4)
    out = module[level_obs.level].compute_q_values({C.OBS: torch.from_numpy(level_obs.obs)})
    assert out[ACTION_ATTENTION].shape == out[Q_VALUES].shape
    assert out[ACTION_ATTENTION].sum() > 0


def test_dense_layer_is_torch_geometric_gatconv_on_the_complete_graph():
    from torch_geometric.nn import DenseGATConv, GATConv

    from marl_alloc.policy.graph_q_net import complete_graph_gat

    torch.manual_seed(1)
    dense = DenseGATConv(16, 16, heads=2, concat=False)
    torch.nn.init.normal_(dense.bias)  # zeros at init would hide a misplaced bias
    sparse = GATConv(16, 16, heads=2, concat=False)
    # Same parameters; DenseGATConv keeps one more broadcast dim on the attention vectors.
    sparse.load_state_dict(
        {k: v.reshape(sparse.state_dict()[k].shape) for k, v in dense.state_dict().items()}
    )
    x = torch.randn(3, 5, 16)
    nodes = torch.arange(5)
    src, dst = torch.meshgrid(nodes, nodes, indexing="ij")
    one = torch.stack([src[src != dst], dst[src != dst]])
    edges = torch.cat([one + 5 * b for b in range(3)], dim=1)
    out, (att_edges, alpha) = sparse(x.reshape(15, 16), edges, return_attention_weights=True)
    fast, parent = complete_graph_gat(dense, x, parent_attention=True)
    assert torch.allclose(dense(x, torch.ones(5, 5)).reshape(15, 16), out, atol=1e-5)
    assert torch.allclose(fast.reshape(15, 16), out, atol=1e-5)
    into_parent = att_edges[1] % 5 == 0
    expected = torch.zeros(3, 5)
    expected[att_edges[1, into_parent] // 5, att_edges[0, into_parent] % 5] = alpha[
        into_parent
    ].mean(-1)
    assert torch.allclose(parent, expected, atol=1e-5)


def test_gradients_through_the_fast_layer_are_dense_gatconvs():
    from torch_geometric.nn import DenseGATConv

    from marl_alloc.policy.graph_q_net import complete_graph_gat

    torch.manual_seed(2)
    conv = DenseGATConv(8, 8, heads=2, concat=False)
    x = torch.randn(4, 6, 8)
    reference = torch.autograd.grad(conv(x, torch.ones(6, 6)).square().sum(), conv.parameters())
    fast = torch.autograd.grad(complete_graph_gat(conv, x)[0].square().sum(), conv.parameters())
    for expected, got in zip(reference, fast, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_greedy_actions_do_not_depend_on_the_module_mode_and_leave_it_as_it_was(policy):
    env, module = policy
    level_obs = env.reset(seed=5)
    level_module = module[level_obs.level]
    batch = {
        C.OBS: torch.from_numpy(level_obs.obs),
        C.ACTION_MASK: torch.from_numpy(level_obs.action_mask),
    }
    with torch.no_grad():
        level_module.train()
        training = level_module.forward_inference(batch)[Q_VALUES]
        assert level_module.training  # a learner's module goes on training
        level_module.eval()
        serving = level_module.forward_inference(batch)[Q_VALUES]
        assert not level_module.training
    assert torch.equal(training, serving)


def _plain_q_values(net: GraphQNet, obs: torch.Tensor) -> torch.Tensor:
    """GraphQNet's Q values written out plainly: concatenated MLP inputs and DenseGATConv on
    an all-ones adjacency, none of the fast path's folds."""
    from torch_geometric.nn import DenseGATConv

    batch = obs.shape[0]
    children = (obs.shape[1] - CONTEXT) // CHILD
    child_obs = obs[:, : children * CHILD].reshape(batch, children, CHILD)
    context = obs[:, children * CHILD :]
    shared = context[:, None].expand(batch, children, CONTEXT)
    child_x = net.child_encoder(torch.cat([child_obs, shared], -1))
    parent_x = net.parent_encoder(torch.cat([context, child_obs.mean(1), child_obs.amax(1)], -1))
    x = torch.cat([parent_x[:, None], child_x], 1)
    for conv in net.convs:
        assert isinstance(conv, DenseGATConv)
        x = x + torch.relu(conv(x, torch.ones(children + 1, children + 1)))
    parent, kids = x[:, 0], x[:, 1:]
    pair = torch.cat([kids, parent[:, None].expand(batch, children, parent.shape[-1])], -1)
    advantage = torch.cat([net.child_head(pair).squeeze(-1), net.extra_head(parent)], -1)
    return net.value_head(parent) + advantage - advantage.mean(-1, keepdim=True)


@pytest.mark.parametrize("layers", [1, 2])
def test_q_values_and_gradients_equal_the_plain_formulation(layers):
    torch.manual_seed(3)
    net = GraphQNet(CHILD, CONTEXT, extra_actions=1, embed_dim=16, heads=2, layers=layers)
    for conv in net.convs:
        torch.nn.init.normal_(conv.bias)  # zeros at init would hide a misplaced bias
    obs = _obs(6, 5)
    fast, _ = net(obs)
    plain = _plain_q_values(net, obs)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    params = list(net.parameters())
    expected = torch.autograd.grad(plain.square().sum(), params)
    got = torch.autograd.grad(fast.square().sum(), params)
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)
