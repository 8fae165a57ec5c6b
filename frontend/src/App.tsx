import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useState } from "react";
import { BrowserRouter, Navigate, Route, Routes, useParams } from "react-router-dom";
import { ApiError } from "./api/client";
import { EmptyState, Spinner } from "./components/Feedback";
import { Layout } from "./features/Layout";
import { SessionGate } from "./features/session";
import { RunsPage } from "./pages/RunsPage";

// Pages other than the run list load on demand so the first paint stays small.
const RunPage = lazy(() => import("./pages/RunPage"));
const CreateRunPage = lazy(() => import("./pages/CreateRunPage"));
const PackageIndexesPage = lazy(() => import("./pages/PackageIndexesPage"));
const EnvironmentsPage = lazy(() => import("./pages/EnvironmentsPage"));
const DatasetsPage = lazy(() => import("./pages/DatasetsPage"));
const ComputePage = lazy(() => import("./pages/ComputePage"));
const ModelsPage = lazy(() => import("./pages/ModelsPage"));
const ModelVersionPage = lazy(() => import("./pages/ModelVersionPage"));
const AuditPage = lazy(() => import("./pages/AuditPage"));
const UsagePage = lazy(() => import("./pages/UsagePage"));
const NotificationSettingsPage = lazy(() => import("./pages/NotificationSettingsPage"));
const SweepsPage = lazy(() => import("./pages/SweepsPage"));
const SweepPage = lazy(() => import("./pages/SweepPage"));
const ComparePage = lazy(() => import("./features/runs/compare/ComparePage"));
const SettingsPage = lazy(() => import("./pages/SettingsPage"));

function makeQueryClient(): QueryClient {
  const client: QueryClient = new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        refetchOnWindowFocus: false,
        retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      },
    },
    // An expired session shows the sign-in page instead of a wall of errors.
    queryCache: new QueryCache({ onError: (error) => signedOutCheck(client, error) }),
    mutationCache: new MutationCache({ onError: (error) => signedOutCheck(client, error) }),
  });
  return client;
}

function signedOutCheck(client: QueryClient, error: unknown) {
  if (error instanceof ApiError && error.status === 401) client.setQueryData(["session"], null);
}

function RunRoute() {
  const id = Number(useParams().id);
  // A fresh page per run so its log and metric buffers never mix.
  return <RunPage key={id} runId={id} />;
}

function ModelVersionRoute() {
  const id = Number(useParams().id);
  return <ModelVersionPage key={id} versionId={id} />;
}

export function App() {
  const [queryClient] = useState(makeQueryClient);
  return (
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <SessionGate>
          <Suspense fallback={<Spinner />}>
            <Routes>
              <Route element={<Layout />}>
                <Route index element={<Navigate to="/runs" replace />} />
                <Route path="runs" element={<RunsPage />} />
                <Route path="runs/new" element={<CreateRunPage />} />
                <Route path="runs/compare" element={<ComparePage />} />
                <Route path="runs/:id" element={<RunRoute />} />
                <Route path="sweeps" element={<SweepsPage />} />
                <Route path="sweeps/:id" element={<SweepPage />} />
                <Route path="environments" element={<EnvironmentsPage />} />
                <Route path="environments/:id" element={<EnvironmentsPage />} />
                <Route path="package-indexes" element={<PackageIndexesPage />} />
                <Route path="datasets" element={<DatasetsPage />} />
                <Route path="datasets/:id" element={<DatasetsPage />} />
                <Route path="models" element={<ModelsPage />} />
                <Route path="models/versions/:id" element={<ModelVersionRoute />} />
                <Route path="compute" element={<ComputePage />} />
                <Route path="audit" element={<AuditPage />} />
                <Route path="settings" element={<SettingsPage />} />
                <Route path="usage" element={<UsagePage />} />
                <Route path="settings/notifications" element={<NotificationSettingsPage />} />
                <Route
                  path="*"
                  element={<EmptyState title="Page not found">Use the menu to go to runs, environments, datasets or models.</EmptyState>}
                />
              </Route>
            </Routes>
          </Suspense>
        </SessionGate>
      </BrowserRouter>
    </QueryClientProvider>
  );
}
