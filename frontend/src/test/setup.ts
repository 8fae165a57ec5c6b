import "@testing-library/jest-dom/vitest";

// jsdom has no layout: give elements a viewport-sized box so virtualised lists render rows.
class ResizeObserverStub {
  observe() {}
  unobserve() {}
  disconnect() {}
}
globalThis.ResizeObserver ??= ResizeObserverStub as unknown as typeof ResizeObserver;
Object.defineProperty(HTMLElement.prototype, "offsetHeight", { configurable: true, get: () => 400 });
Object.defineProperty(HTMLElement.prototype, "offsetWidth", { configurable: true, get: () => 800 });
HTMLElement.prototype.scrollTo = function scrollTo() {};
Object.defineProperty(HTMLElement.prototype, "clientHeight", { configurable: true, get: () => 400 });
Object.defineProperty(HTMLElement.prototype, "clientWidth", { configurable: true, get: () => 800 });
