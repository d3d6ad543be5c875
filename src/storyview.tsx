/**
 * The panel's project view: each epic with a progress bar and its stories counted by status,
 * each story with its tasks done, its unresolved blockers and its running worker's cycle.
 * Over many hosts (a remote's stories listed), the stories are grouped by host as the
 * sessions are (hostgroups.tsx). It renders the model (`model.stories` and the sessions);
 * opening a story goes out through a callback.
 */
import * as React from 'react';

import { ISessionInfo } from './api';
import { formatCycle } from './format';
import { HostGroups } from './hostgroups';
import { hostOf } from './hosts';
import { SagaModel } from './model';
import {
  DERIVED_STATUSES,
  IEpic,
  IStorySummary,
  formatStoryTasks,
  keyOf,
  statusLabel
} from './stories';

/** Open a story's page (`host`: a remote's story, `null` for this server's own). */
export type OpenStory = (
  project: string,
  id: string,
  host: string | null
) => void;

/** The newest running session among a story's (its names come newest first). */
export function runningSession(
  model: SagaModel,
  story: IStorySummary
): ISessionInfo | undefined {
  for (const name of story.sessions) {
    const session = model.find(name, hostOf(story));
    if (session?.status === 'running') {
      return session;
    }
  }
  return undefined;
}

/** The unresolved blockers of every story. */
export function countBlockers(model: SagaModel): number {
  return model.stories.stories.reduce(
    (sum, story) => sum + story.blockers.length,
    0
  );
}

/** The last part of a project's path: how a heading names it. */
export function projectName(path: string): string {
  const parts = path.split('/').filter(part => part !== '');
  return parts.length ? parts[parts.length - 1] : path;
}

/** The project view of the panel. */
export function StoriesView(props: {
  model: SagaModel;
  onOpenStory: OpenStory;
}): JSX.Element {
  const { model, onOpenStory } = props;
  const stories = model.stories;
  if (!stories.loaded) {
    return (
      <p className="jp-SagaPanel-placeholder">Reading the SAGA projects…</p>
    );
  }
  const { epics, stories: all } = stories;
  const hosted = [...all, ...epics].some(item => hostOf(item) !== null);
  return (
    <div className="jp-SagaStories">
      {stories.error !== null && (
        <div className="jp-SagaPanel-banner" data-kind="error" role="alert">
          The SAGA projects could not be read: {stories.error}
        </div>
      )}
      {epics.length === 0 && all.length === 0 ? (
        <div className="jp-SagaPanel-empty">
          <p className="jp-SagaPanel-emptyTitle">No SAGA project yet</p>
          <p>
            A project (a directory holding <code>.saga/</code>) is shown here
            when the server is given it (<code>$SAGA_PROJECT_DIR</code> or{' '}
            <code>--SagaJupyterApp.project_dirs</code>), or once one of
            today&apos;s workers names it.
          </p>
        </div>
      ) : hosted ? (
        <HostGroups
          items={all}
          remotes={model.remotes}
          counts={completedCounts}
          noun="stories"
        >
          {(ofHost, host) => (
            <Projects
              epics={epics.filter(epic => hostOf(epic) === host)}
              stories={ofHost}
              model={model}
              onOpenStory={onOpenStory}
            />
          )}
        </HostGroups>
      ) : (
        <Projects
          epics={epics}
          stories={all}
          model={model}
          onOpenStory={onOpenStory}
        />
      )}
    </div>
  );
}

/** `2/5 stories completed`: a host's header. */
function completedCounts(stories: IStorySummary[]): string {
  const done = stories.filter(story => story.status === 'completed').length;
  return `${done}/${stories.length} stories completed`;
}

/** The epics and stories of one host. */
function Projects(props: {
  epics: ReadonlyArray<IEpic>;
  stories: ReadonlyArray<IStorySummary>;
  model: SagaModel;
  onOpenStory: OpenStory;
}): JSX.Element {
  const { epics, stories: all, model, onOpenStory } = props;
  const projects = new Set(all.map(story => story.project));
  epics.forEach(epic => projects.add(epic.project));
  const several = projects.size > 1;
  // Stories of no epic, or of an epic whose file is missing: listed, never lost.
  const known = new Set(epics.map(epic => `${epic.project}\u0000${epic.id}`));
  const loose = all.filter(
    story =>
      story.epic === null || !known.has(`${story.project}\u0000${story.epic}`)
  );
  return (
    <>
      {epics.map(epic => (
        <Epic
          key={`${epic.project}\u0000${epic.id}`}
          epic={epic}
          project={several ? projectName(epic.project) : null}
          stories={all.filter(
            story => story.project === epic.project && story.epic === epic.id
          )}
          model={model}
          onOpenStory={onOpenStory}
        />
      ))}
      {loose.length > 0 && (
        <section className="jp-SagaStories-epic" data-no-epic="true">
          <h3 className="jp-SagaStories-epicHead">
            <span className="jp-SagaStories-epicTitle">no epic</span>
          </h3>
          <StoryRows stories={loose} model={model} onOpenStory={onOpenStory} />
        </section>
      )}
    </>
  );
}

function Epic(props: {
  epic: IEpic;
  project: string | null;
  stories: IStorySummary[];
  model: SagaModel;
  onOpenStory: OpenStory;
}): JSX.Element {
  const { epic } = props;
  const counts = epic.storyCounts;
  const done = counts.completed;
  const percent = counts.total ? Math.round((100 * done) / counts.total) : 0;
  const blockers = props.stories.reduce(
    (sum, story) => sum + story.blockers.length,
    0
  );
  return (
    <section
      className="jp-SagaStories-epic"
      data-epic={epic.id}
      data-status={epic.status}
      data-project={epic.project}
    >
      <h3 className="jp-SagaStories-epicHead" title={epic.description}>
        <span className="jp-SagaStories-epicTitle">{epic.title}</span>
        {props.project && (
          <span className="jp-SagaStories-project" title={epic.project}>
            {props.project}
          </span>
        )}
        <span className="jp-SagaStories-epicDone">
          {done}/{counts.total}
        </span>
      </h3>
      <div
        className="jp-SagaStories-progress"
        role="progressbar"
        aria-label={`${epic.title}: ${done} of ${counts.total} stories completed`}
        aria-valuemin={0}
        aria-valuemax={counts.total}
        aria-valuenow={done}
      >
        <div
          className="jp-SagaStories-progressDone"
          style={{ width: `${percent}%` }}
        />
      </div>
      <div className="jp-SagaStories-counts">
        {DERIVED_STATUSES.map(status => (
          <span
            key={status}
            className="jp-SagaStories-count"
            data-status={status}
          >
            {counts[status]} {statusLabel(status)}
          </span>
        ))}
        {blockers > 0 && (
          <span className="jp-SagaStories-count" data-blocked="true">
            {blockers} blocker{blockers > 1 ? 's' : ''}
          </span>
        )}
      </div>
      <StoryRows {...props} />
    </section>
  );
}

function StoryRows(props: {
  stories: IStorySummary[];
  model: SagaModel;
  onOpenStory: OpenStory;
}): JSX.Element {
  return (
    <ul className="jp-SagaStories-stories">
      {props.stories.map(story => (
        <li key={keyOf(story)}>
          <StoryRow {...props} story={story} />
        </li>
      ))}
    </ul>
  );
}

function StoryRow(props: {
  story: IStorySummary;
  model: SagaModel;
  onOpenStory: OpenStory;
}): JSX.Element {
  const { story } = props;
  const running = runningSession(props.model, story);
  const cycle = running ? formatCycle(running.worker) : '';
  return (
    <button
      className="jp-SagaStories-story"
      data-story={story.id}
      data-project={story.project}
      data-host={hostOf(story) ?? undefined}
      data-status={story.status}
      title={`${story.title}\n${story.id}`}
      onClick={() => props.onOpenStory(story.project, story.id, hostOf(story))}
    >
      <span className="jp-SagaStories-storyHead">
        <span className="jp-SagaStories-storyTitle">{story.title}</span>
        <span className="jp-SagaStories-status" data-status={story.status}>
          {statusLabel(story.status)}
        </span>
      </span>
      <span className="jp-SagaStories-facts">
        <span className="jp-SagaStories-tasks">
          {formatStoryTasks(story.tasks)}
        </span>
        {story.blockers.length > 0 && (
          <span
            className="jp-SagaStories-blockers"
            title={story.blockers.join('\n')}
          >
            {story.blockers.length} blocker
            {story.blockers.length > 1 ? 's' : ''}
          </span>
        )}
        {running && (
          <span className="jp-SagaStories-running" data-name={running.name}>
            running{cycle ? ` · ${cycle}` : ''}
          </span>
        )}
      </span>
    </button>
  );
}
