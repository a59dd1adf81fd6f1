--
-- Schema of the Trends.Earth API's tables "user", script and execution, taken verbatim from the DDL of
-- test/fixtures/golden/database.sql (a pg_dump of the API's database). No data.
--
-- The file has two sections. Everything above the "@post-load" marker creates the bare tables;
-- everything below it adds the primary keys, unique constraints, indexes and foreign keys.
-- tools/seed-lib.ts runs the first section before and the second section after its bulk load (much
-- faster than maintaining indexes row by row). Run as a whole (psql -f tools/schema.sql), the file
-- creates the complete empty schema.
--

--
-- Name: execution; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.execution (
    id uuid NOT NULL,
    start_date timestamp without time zone,
    end_date timestamp without time zone,
    status character varying(20),
    progress integer,
    params jsonb,
    results jsonb,
    script_id uuid,
    user_id uuid
);

--
-- Name: script; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.script (
    id uuid NOT NULL,
    name character varying(120) NOT NULL,
    slug character varying(80) NOT NULL,
    description text,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    user_id uuid,
    status character varying(80) NOT NULL,
    public boolean NOT NULL
);

--
-- Name: user; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."user" (
    id uuid NOT NULL,
    email character varying(120) NOT NULL,
    name character varying(120) NOT NULL,
    country character varying(120),
    institution character varying(120),
    password character varying(200) NOT NULL,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    role character varying(10)
);

-- @post-load: constraints, indexes and foreign keys (tools/seed-lib.ts splits the file on this line)

--
-- Name: execution execution_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.execution
    ADD CONSTRAINT execution_pkey PRIMARY KEY (id);

--
-- Name: script script_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.script
    ADD CONSTRAINT script_pkey PRIMARY KEY (id);

--
-- Name: script script_slug_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.script
    ADD CONSTRAINT script_slug_key UNIQUE (slug);

--
-- Name: user user_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."user"
    ADD CONSTRAINT user_email_key UNIQUE (email);

--
-- Name: user user_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."user"
    ADD CONSTRAINT user_pkey PRIMARY KEY (id);

--
-- Name: ix_execution_end_date; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_execution_end_date ON public.execution USING btree (end_date);

--
-- Name: ix_execution_script_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_execution_script_id ON public.execution USING btree (script_id);

--
-- Name: ix_execution_start_date; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_execution_start_date ON public.execution USING btree (start_date);

--
-- Name: ix_execution_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_execution_status ON public.execution USING btree (status);

--
-- Name: ix_execution_status_end_date; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_execution_status_end_date ON public.execution USING btree (status, end_date);

--
-- Name: ix_execution_status_start_date; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_execution_status_start_date ON public.execution USING btree (status, start_date);

--
-- Name: ix_execution_user_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_execution_user_id ON public.execution USING btree (user_id);

--
-- Name: ix_script_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_script_created_at ON public.script USING btree (created_at);

--
-- Name: ix_script_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_script_status ON public.script USING btree (status);

--
-- Name: ix_script_user_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_script_user_id ON public.script USING btree (user_id);

--
-- Name: ix_user_country; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_user_country ON public."user" USING btree (country);

--
-- Name: ix_user_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_user_created_at ON public."user" USING btree (created_at);

--
-- Name: ix_user_role; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_user_role ON public."user" USING btree (role);

--
-- Name: execution execution_script_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.execution
    ADD CONSTRAINT execution_script_id_fkey FOREIGN KEY (script_id) REFERENCES public.script(id);

--
-- Name: execution execution_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.execution
    ADD CONSTRAINT execution_user_id_fkey FOREIGN KEY (user_id) REFERENCES public."user"(id);

--
-- Name: script script_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.script
    ADD CONSTRAINT script_user_id_fkey FOREIGN KEY (user_id) REFERENCES public."user"(id);
