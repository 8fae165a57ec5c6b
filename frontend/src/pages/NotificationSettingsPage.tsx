import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../api/client";
import type { components } from "../api/schema";
import { ErrorNotice, Spinner } from "../components/Feedback";
import { causeLabel } from "../features/runs/FailureCause";
import { useDocumentTitle } from "../lib/useDocumentTitle";

type Channel = components["schemas"]["Channel"];
type Subscription = components["schemas"]["Subscription"];
type Experiment = components["schemas"]["Experiment"];

const EVENTS = [
  ["run.completed", "Completed"],
  ["run.failed", "Failed"],
  ["run.canceled", "Canceled"],
  ["sweep.finished", "Sweep finished"],
  ["run.alert", "run.alert() from a script"],
] as const;
const CAUSES = ["user_error", "oom", "time_limit", "preempted", "hang", "node_lost", "worker_lost", "environment_build", "input_materialization", "infrastructure"];

/** Where notifications go (channels) and which run events you hear of (subscriptions). */
export default function NotificationSettingsPage() {
  useDocumentTitle("Notification settings");
  const channels = useQuery({ queryKey: ["notification-channels"], queryFn: () => api<Channel[]>("/api/notification-channels/") });
  const subs = useQuery({ queryKey: ["notification-subscriptions"], queryFn: () => api<Subscription[]>("/api/notification-subscriptions/") });
  const experiments = useQuery({
    queryKey: ["experiments", "all"],
    queryFn: () => api<{ results: Experiment[] }>("/api/experiments/?limit=200"),
  });
  if (channels.isPending || subs.isPending) return <Spinner label="Loading settings…" />;
  if (channels.isError) return <ErrorNotice error={channels.error} />;
  if (subs.isError) return <ErrorNotice error={subs.error} />;
  const own = subs.data.find((s) => s.experiment == null);
  return (
    <section className="page">
      <header className="page-header">
        <h1>Notification settings</h1>
      </header>
      <ChannelsCard channels={channels.data} />
      <SubscriptionCard title="My runs" experiment={null} existing={own} channels={channels.data} />
      {subs.data
        .filter((s) => s.experiment != null)
        .map((s) => (
          <SubscriptionCard
            key={s.id}
            title={`Experiment ${experiments.data?.results.find((e) => e.id === s.experiment)?.name ?? s.experiment}`}
            experiment={s.experiment ?? null}
            existing={s}
            channels={channels.data}
          />
        ))}
      <AddExperimentSubscription experiments={experiments.data?.results ?? []} taken={subs.data} channels={channels.data} />
    </section>
  );
}

function ChannelsCard({ channels }: { channels: Channel[] }) {
  const client = useQueryClient();
  const [form, setForm] = useState({ name: "", kind: "email", address: "", secret: "" });
  const add = useMutation({
    mutationFn: () => api<Channel>("/api/notification-channels/", { method: "POST", json: form }),
    onSuccess: () => {
      setForm({ name: "", kind: "email", address: "", secret: "" });
      void client.invalidateQueries({ queryKey: ["notification-channels"] });
    },
  });
  const remove = useMutation({
    mutationFn: (id: number) => api(`/api/notification-channels/${id}/`, { method: "DELETE" }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["notification-channels"] }),
  });
  return (
    <section className="card" aria-label="Channels">
      <h2>Channels</h2>
      <ul>
        {channels.map((c) => (
          <li key={c.id}>
            <strong>{c.name}</strong> <span className="chip">{c.kind}</span> {c.address_masked}
            {c.has_secret && <span className="chip">signed</span>}{" "}
            <button type="button" className="btn btn-small" onClick={() => remove.mutate(c.id)}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          add.mutate();
        }}
      >
        <input aria-label="Channel name" placeholder="name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
        <select aria-label="Kind" value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value })}>
          <option value="email">Email</option>
          <option value="slack">Slack webhook</option>
          <option value="webhook">Signed webhook</option>
        </select>
        <input
          aria-label="Address"
          placeholder={form.kind === "email" ? "you@example.com" : "https://…"}
          value={form.address}
          onChange={(e) => setForm({ ...form, address: e.target.value })}
        />
        {form.kind === "webhook" && (
          <input aria-label="Secret" type="password" placeholder="HMAC secret" value={form.secret} onChange={(e) => setForm({ ...form, secret: e.target.value })} />
        )}
        <button type="submit" className="btn btn-primary" disabled={add.isPending}>
          Add channel
        </button>
      </form>
      {add.isError && <ErrorNotice error={add.error} />}
    </section>
  );
}

/** Events and channels of one subscription (your own runs, or one experiment's). */
export function SubscriptionCard({
  title,
  experiment,
  existing,
  channels,
}: {
  title: string;
  experiment: number | null;
  existing?: Subscription;
  channels: Channel[];
}) {
  const client = useQueryClient();
  const [events, setEvents] = useState<string[]>(existing?.events ?? []);
  const [causes, setCauses] = useState<string[]>(existing?.causes ?? []);
  const [picked, setPicked] = useState<number[]>(existing?.channels ?? []);
  const save = useMutation({
    mutationFn: () =>
      existing
        ? api(`/api/notification-subscriptions/${existing.id}/`, { method: "PATCH", json: { events, causes, channels: picked } })
        : api("/api/notification-subscriptions/", { method: "POST", json: { experiment, events, causes, channels: picked } }),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["notification-subscriptions"] }),
  });
  const toggle = (list: string[], set: (v: string[]) => void, value: string) =>
    set(list.includes(value) ? list.filter((v) => v !== value) : [...list, value]);
  return (
    <section className="card" aria-label={`Subscription: ${title}`}>
      <h2>{title}</h2>
      <fieldset>
        <legend>Events</legend>
        {EVENTS.map(([value, label]) => (
          <label key={value} className="check">
            <input type="checkbox" checked={events.includes(value)} onChange={() => toggle(events, setEvents, value)} /> {label}
          </label>
        ))}
      </fieldset>
      {events.includes("run.failed") && (
        <fieldset>
          <legend>Only failures with these causes (none: any)</legend>
          {CAUSES.map((c) => (
            <label key={c} className="check">
              <input type="checkbox" checked={causes.includes(c)} onChange={() => toggle(causes, setCauses, c)} /> {causeLabel(c)}
            </label>
          ))}
        </fieldset>
      )}
      <fieldset>
        <legend>Also send to (the bell always shows them)</legend>
        {channels.map((c) => (
          <label key={c.id} className="check">
            <input
              type="checkbox"
              checked={picked.includes(c.id)}
              onChange={() => setPicked(picked.includes(c.id) ? picked.filter((v) => v !== c.id) : [...picked, c.id])}
            />{" "}
            {c.name}
          </label>
        ))}
      </fieldset>
      <button type="button" className="btn btn-primary" disabled={!events.length || save.isPending} onClick={() => save.mutate()}>
        Save
      </button>
      {save.isSuccess && <span className="muted"> Saved.</span>}
      {save.isError && <ErrorNotice error={save.error} />}
    </section>
  );
}

function AddExperimentSubscription({
  experiments,
  taken,
  channels,
}: {
  experiments: Experiment[];
  taken: Subscription[];
  channels: Channel[];
}) {
  const [chosen, setChosen] = useState<number | null>(null);
  const free = experiments.filter((e) => !taken.some((s) => s.experiment === e.id));
  return (
    <section className="card" aria-label="Subscribe to an experiment">
      <h2>Subscribe to an experiment</h2>
      <select aria-label="Experiment" value={chosen ?? ""} onChange={(e) => setChosen(e.target.value ? Number(e.target.value) : null)}>
        <option value="">Choose…</option>
        {free.map((e) => (
          <option key={e.id} value={e.id}>
            {e.name}
          </option>
        ))}
      </select>
      {chosen != null && <SubscriptionCard key={chosen} title="New subscription" experiment={chosen} channels={channels} />}
    </section>
  );
}
